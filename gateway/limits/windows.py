"""Rate-limit arithmetic shared by the Redis script and the in-process limiter.

Requests and tokens per minute use a sliding window counter: the count of the current
minute plus the previous minute's count weighted by how much of it still overlaps the
last 60 seconds. Concurrency is a set of in-flight request ids with an expiry each (so a
crashed process's slots come back). The types here are pure; the backends implement
``check`` and ``release`` with exactly this arithmetic (the Redis one counts in Lua; the
wait a refusal reports is worked out here, by ``wait_ms``, for both).
"""

from __future__ import annotations

import math

import msgspec

WINDOW_MS = 60_000


class ScopeLimits(msgspec.Struct, frozen=True):
    """The limits of one scope (``key:<id>``, ``user:<id>`` or ``org:<id>``); 0 = no limit."""

    scope: str
    rpm: int = 0
    tpm: int = 0
    parallel: int = 0

    @property
    def any(self) -> bool:
        return bool(self.rpm or self.tpm or self.parallel)


class Verdict(msgspec.Struct, frozen=True):
    """A check's outcome, with what the ``x-ratelimit-*`` headers report.

    ``refused_scope``/``refused_kind`` (``requests``, ``tokens`` or ``parallel``) are set when
    refused; ``retry_after_ms`` then says when to try again. The header fields describe the
    tightest scope with a request (or token) limit; -1 means no such limit.
    """

    allowed: bool
    refused_scope: str = ""
    refused_kind: str = ""
    retry_after_ms: int = 0
    limit_requests: int = -1
    remaining_requests: int = -1
    reset_requests_ms: int = 0
    limit_tokens: int = -1
    remaining_tokens: int = -1
    reset_tokens_ms: int = 0


def weighted(prev: float, cur: float, elapsed_ms: int) -> float:
    """The sliding-window count: ``cur`` plus the overlapping part of ``prev``."""
    return prev * (1.0 - elapsed_ms / WINDOW_MS) + cur


def wait_ms(prev: float, cur: float, elapsed_ms: int, room: float) -> int:
    """How long until the sliding count drops to ``room`` or below (at least 1 ms)."""
    if weighted(prev, cur, elapsed_ms) <= room:
        return 0
    if cur <= room and prev > 0:
        # Within this window: prev * (1 - f) + cur <= room.
        f = 1.0 - (room - cur) / prev
        return max(1, math.ceil(f * WINDOW_MS - elapsed_ms))
    # Only in a later window, where this window's count becomes the weighted one.
    g = 1.0 - room / cur if cur > 0 else 0.0
    return max(1, math.ceil((WINDOW_MS - elapsed_ms) + g * WINDOW_MS))


def format_reset(ms: int) -> str:
    """OpenAI's reset format: ``1s``, ``1.5s``, ``6m0s``, ``250ms``."""
    if ms < 1000:
        return f"{max(0, ms)}ms"
    if ms < 60_000:  # the common case (within a minute's window): integers only, tenths rounded
        seconds, rest = divmod(ms, 1000)
        tenths = (rest + 50) // 100
        if tenths == 0:
            return f"{seconds}s" if rest == 0 else f"{seconds}.0s"
        return f"{seconds + 1}s" if tenths == 10 else f"{seconds}.{tenths}s"
    minutes, rest = divmod(round(ms / 1000), 60)
    return f"{minutes}m{rest}s"


def headers_for(verdict: Verdict) -> dict[str, str]:
    """The ``x-ratelimit-*`` response headers a verdict calls for (none when no limit applies)."""
    limit_requests, limit_tokens = verdict.limit_requests, verdict.limit_tokens
    if limit_requests >= 0:
        reset = format_reset(verdict.reset_requests_ms)
        remaining = verdict.remaining_requests
        out = {
            "x-ratelimit-limit-requests": str(limit_requests),
            "x-ratelimit-remaining-requests": str(remaining) if remaining > 0 else "0",
            "x-ratelimit-reset-requests": reset,
        }
        if limit_tokens < 0:
            return out
        if verdict.reset_tokens_ms != verdict.reset_requests_ms:  # (both are the window's rest)
            reset = format_reset(verdict.reset_tokens_ms)
    elif limit_tokens >= 0:
        out, reset = {}, format_reset(verdict.reset_tokens_ms)
    else:
        return {}
    remaining = verdict.remaining_tokens
    out["x-ratelimit-limit-tokens"] = str(limit_tokens)
    out["x-ratelimit-remaining-tokens"] = str(remaining) if remaining > 0 else "0"
    out["x-ratelimit-reset-tokens"] = reset
    return out
