"""The in-process rate limiter, used when ``REDIS_URL`` is unset.

Same arithmetic as the Redis script (``gateway.limits.windows``), kept in this process's
memory: with several processes or replicas each one enforces the limits on its own, so N
processes admit up to N times the limit. The README says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.limits.windows import WINDOW_MS, ScopeLimits, Verdict, wait_ms, weighted


@dataclass(slots=True)
class _Window:
    index: int = 0
    requests: float = 0.0
    prev_requests: float = 0.0
    tokens: float = 0.0
    prev_tokens: float = 0.0
    inflight: dict[str, int] = field(default_factory=dict)  # request id -> expiry (ms)

    def roll(self, index: int) -> None:
        if index == self.index:
            return
        if index == self.index + 1:
            self.prev_requests, self.prev_tokens = self.requests, self.tokens
        else:
            self.prev_requests = self.prev_tokens = 0.0
        self.requests = self.tokens = 0.0
        self.index = index


class LocalLimiter:
    """Sliding-window request and token counts and in-flight sets, per scope, in memory."""

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}

    def _window(self, scope: str, now_ms: int) -> _Window:
        w = self._windows.get(scope)
        if w is None:
            w = self._windows[scope] = _Window(index=now_ms // WINDOW_MS)
        w.roll(now_ms // WINDOW_MS)
        return w

    async def check(self, scopes: Sequence[ScopeLimits], request_id: str, now_ms: int, ttl_ms: int) -> Verdict:
        elapsed = now_ms % WINDOW_MS
        best_r: tuple[int, int, int] | None = None  # (remaining, limit, reset)
        best_t: tuple[int, int, int] | None = None
        windows = [self._window(s.scope, now_ms) for s in scopes]
        for s, w in zip(scopes, windows, strict=True):
            for rid in [r for r, exp in w.inflight.items() if exp <= now_ms]:
                del w.inflight[rid]
            if s.rpm:
                count = weighted(w.prev_requests, w.requests, elapsed)
                if count + 1 > s.rpm:
                    return Verdict(False, s.scope, "requests", wait_ms(w.prev_requests, w.requests, elapsed, s.rpm - 1))
                remaining = int(s.rpm - count - 1)
                if best_r is None or remaining < best_r[0]:
                    best_r = (remaining, s.rpm, WINDOW_MS - elapsed)
            if s.tpm:
                used = weighted(w.prev_tokens, w.tokens, elapsed)
                if used >= s.tpm:
                    return Verdict(False, s.scope, "tokens", wait_ms(w.prev_tokens, w.tokens, elapsed, s.tpm - 1))
                remaining = int(s.tpm - used)
                if best_t is None or remaining < best_t[0]:
                    best_t = (remaining, s.tpm, WINDOW_MS - elapsed)
            if s.parallel and len(w.inflight) >= s.parallel:
                return Verdict(False, s.scope, "parallel", 1000)
        for s, w in zip(scopes, windows, strict=True):
            if s.rpm:
                w.requests += 1
            if s.parallel:
                w.inflight[request_id] = now_ms + ttl_ms
        r = best_r or (-1, -1, 0)
        t = best_t or (-1, -1, 0)
        return Verdict(True, limit_requests=r[1], remaining_requests=r[0], reset_requests_ms=r[2],
                       limit_tokens=t[1], remaining_tokens=t[0], reset_tokens_ms=t[2])  # fmt: skip

    async def release(self, scopes: Sequence[ScopeLimits], request_id: str, tokens: int, now_ms: int) -> None:
        for s in scopes:
            w = self._window(s.scope, now_ms)
            if s.parallel:
                w.inflight.pop(request_id, None)
            if s.tpm and tokens:
                w.tokens += tokens

    async def close(self) -> None:
        return None
