"""Rate limits as an admission step: requests/min, tokens/min and concurrency per key, user, org.

``acquire`` (the pipeline's admission step) makes one backend call per model call covering
every scope that has a limit (with Redis, ``RateLeases``: mostly no round trip, a script call
when a lease runs out; in process, ``LocalLimiter``); a refusal is a
``RateLimited`` (429, ``Retry-After``). Releasing the hold does no I/O: the tokens the call
really used and its concurrency slot are queued and sent in one pipeline per flush
interval. When Redis cannot be reached, ``failure_mode`` decides: ``open`` admits (a
warning at most every 10 s, and the ``gateway_rate_limiter_failures`` metric), ``closed``
answers 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import redis

from gateway.auth.memo import PerPrincipal
from gateway.auth.principal import Principal
from gateway.errors import RateLimited, ServiceUnavailable
from gateway.limits.windows import ScopeLimits, Verdict, format_reset, headers_for
from gateway.metrics import Metrics
from gateway.policy.request import CallOutcome, PolicyRequest

log = logging.getLogger(__name__)

_BACKEND_ERRORS = (redis.RedisError, OSError, asyncio.TimeoutError)
_WHAT = {"requests": "requests per minute", "tokens": "tokens per minute", "parallel": "concurrent requests"}


class Limiter(Protocol):
    async def check(self, scopes: Sequence[ScopeLimits], request_id: str, now_ms: int, ttl_ms: int) -> Verdict: ...

    async def release(self, scopes: Sequence[ScopeLimits], request_id: str, tokens: int, now_ms: int) -> None: ...

    async def close(self) -> None: ...


def has_rate_limits(p: Principal) -> bool:
    """Whether the key, the user or the organization has any rate limit."""
    k, u, o = p.key_limits, p.user_limits, p.org
    return bool(
        k.rpm_limit or k.tpm_limit or k.max_parallel
        or u.rpm_limit or u.tpm_limit or u.max_parallel
        or o.rpm_limit or o.tpm_limit or o.max_parallel
    )  # fmt: skip


def scope_limits(p: Principal) -> list[ScopeLimits]:
    """The principal's limited scopes: key, user, organization (the ones without a limit left out)."""
    if not has_rate_limits(p):
        return []  # the common case: nothing limited, nothing built
    out: list[ScopeLimits] = []
    if p.key_id is not None:
        k = p.key_limits
        out.append(ScopeLimits("key:" + p.key_id, k.rpm_limit or 0, k.tpm_limit or 0, k.max_parallel or 0))
    u = p.user_limits
    out.append(ScopeLimits("user:" + p.user_id, u.rpm_limit or 0, u.tpm_limit or 0, u.max_parallel or 0))
    o = p.org
    out.append(ScopeLimits("org:" + p.organization_id, o.rpm_limit or 0, o.tpm_limit or 0, o.max_parallel or 0))
    return [s for s in out if s.any]


def _now_ms() -> int:
    return int(time.time() * 1000)


class RateHold:
    """An admitted call's rate-limit state: its slot and the tokens it will report."""

    __slots__ = ("_guard", "request_id", "response_headers", "scopes")
    reserved_millicents = 0

    def __init__(self, guard: RateLimitGuard, scopes: list[ScopeLimits], request_id: str, headers: dict[str, str]):
        self._guard = guard
        self.scopes = scopes
        self.request_id = request_id
        self.response_headers = headers

    def release(self, outcome: CallOutcome) -> None:
        self._guard.settle(self.scopes, self.request_id, outcome.input_tokens + outcome.output_tokens)


class RateLimitGuard:
    """The rate-limit admission step, through a backend (Redis or in-process)."""

    name = "rate_limits"

    def __init__(
        self,
        backend: Limiter,
        metrics: Metrics,
        *,
        failure_mode: str = "open",
        slot_ttl_s: float = 660.0,
        flush_interval_s: float = 0.05,
        give_back_interval_s: float = 0.5,
    ) -> None:
        self._backend = backend
        self._metrics = metrics
        self._failure_mode = failure_mode
        self._slot_ttl_ms = int(slot_ttl_s * 1000)
        self._flush_s = flush_interval_s
        self._give_back_s = give_back_interval_s
        self._pending: list[tuple[list[ScopeLimits], str, int, int]] = []
        self._wake = asyncio.Event()
        self._last_warning = 0.0
        self._scopes = PerPrincipal(scope_limits)

    def applies(self, principal: Principal) -> bool:
        return has_rate_limits(principal)

    async def acquire(self, req: PolicyRequest) -> RateHold | None:
        scopes = self._scopes.get(req.principal)
        if not scopes:
            return None
        try:
            verdict = await self._backend.check(scopes, req.request_id, _now_ms(), self._slot_ttl_ms)
        except _BACKEND_ERRORS as exc:
            self._metrics.child(self._metrics.limiter_failures, self._failure_mode).inc()
            if self._failure_mode == "closed":
                raise ServiceUnavailable(
                    "rate limits cannot be checked right now (GATEWAY_RATE_LIMIT_FAILURE=closed); retry shortly",
                    code="rate_limiter_unavailable",
                    retry_after_s=1,
                ) from None
            now = time.monotonic()
            if now - self._last_warning > 10.0:
                self._last_warning = now
                log.warning("rate limiter unreachable, admitting without limits (fail-open): %s", exc)
            return None
        if not verdict.allowed:
            self._metrics.child(
                self._metrics.rate_limited, verdict.refused_scope.split(":")[0], verdict.refused_kind
            ).inc()
            retry_s = max(1, -(-verdict.retry_after_ms // 1000))
            whose = {"key": "this API key", "user": "your user", "org": "your organization"}
            who = whose.get(verdict.refused_scope.split(":")[0], verdict.refused_scope)
            limit = next(s for s in scopes if s.scope == verdict.refused_scope)
            value = {"requests": limit.rpm, "tokens": limit.tpm, "parallel": limit.parallel}[verdict.refused_kind]
            headers = {}
            if verdict.refused_kind == "requests":
                headers = {
                    "x-ratelimit-limit-requests": str(value),
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": format_reset(verdict.retry_after_ms),
                }
            elif verdict.refused_kind == "tokens":
                headers = {
                    "x-ratelimit-limit-tokens": str(value),
                    "x-ratelimit-remaining-tokens": "0",
                    "x-ratelimit-reset-tokens": format_reset(verdict.retry_after_ms),
                }
            raise RateLimited(
                f"rate limit reached: {who} may send {value} {_WHAT[verdict.refused_kind]}; "
                f"retry in {retry_s} s or ask an organization admin to raise the limit",
                code=f"{verdict.refused_kind}_rate_limited",
                retry_after_s=retry_s,
                headers=headers,
            )
        return RateHold(self, scopes, req.request_id, headers_for(verdict))

    def settle(self, scopes: list[ScopeLimits], request_id: str, tokens: int) -> None:
        """Queue the call's token count and slot release (no I/O)."""
        for s in scopes:  # (a loop, not any(): no generator per request)
            if s.tpm or s.parallel:
                self._pending.append((scopes, request_id, tokens, _now_ms()))
                self._wake.set()
                return

    async def flush(self) -> None:
        """Send the queued settlements (one pipeline for Redis)."""
        items, self._pending = self._pending, []
        if not items:
            return
        release_many = getattr(self._backend, "release_many", None)
        try:
            if release_many is not None:
                await release_many(items)
            else:
                for scopes, rid, tokens, now_ms in items:
                    await self._backend.release(scopes, rid, tokens, now_ms)
        except _BACKEND_ERRORS as exc:
            # Lost settlements only make limits looser (slots lapse at their expiry).
            self._metrics.child(self._metrics.limiter_failures, "settle").inc()
            log.warning("rate-limit settlement not sent: %s", exc)

    async def run(self) -> None:
        """Flush settlements until cancelled (and, with quota leases, give back idle ones)."""
        give_back = getattr(self._backend, "give_back", None)
        if give_back is None:
            await self._flush_loop()
            return
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._flush_loop())
            tasks.create_task(self._give_back_loop(give_back))

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            await asyncio.sleep(self._flush_s)

    async def _give_back_loop(self, give_back: Callable[[int], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(self._give_back_s)
            try:
                await give_back(_now_ms())
            except _BACKEND_ERRORS as exc:
                # Lost give-backs only make limits tighter, until the minute ends or the slots lapse.
                self._metrics.child(self._metrics.limiter_failures, "settle").inc()
                log.warning("rate-limit leases not given back: %s", exc)

    async def close(self) -> None:
        await self.flush()
        await self._backend.close()
