"""Throttling failed authentication per client address.

After ``limit`` failed attempts from one address within a minute, that address gets 429s
(with ``Retry-After``) until the minute is over, without its credentials being looked at.
With Redis the failures are counted across processes (one round trip, on the failure path
only); each process then blocks the address locally, so a blocked address costs nothing.
"""

from __future__ import annotations

import time

from gateway.errors import RateLimited
from gateway.limits.redis_limiter import RedisLimiter

_WINDOW_S = 60


class AuthThrottle:
    """Counts failed authentications per address and blocks addresses over the limit."""

    def __init__(self, limit: int, redis: RedisLimiter | None = None) -> None:
        self._limit = limit
        self._redis = redis
        self._blocked: dict[str, float] = {}  # address -> blocked until (time.time())
        self._counts: dict[tuple[str, int], int] = {}

    def check(self, address: str) -> None:
        """Raise ``RateLimited`` if the address is blocked."""
        if self._limit <= 0:
            return
        until = self._blocked.get(address)
        if until is None:
            return
        now = time.time()
        if now >= until:
            del self._blocked[address]
            return
        raise RateLimited(
            f"too many failed authentication attempts from {address}; retry in {int(until - now) + 1} s",
            code="auth_throttled",
            retry_after_s=int(until - now) + 1,
        )

    async def failed(self, address: str) -> None:
        """Count one failure (Redis errors fall back to counting in this process)."""
        if self._limit <= 0:
            return
        now = time.time()
        minute = int(now // _WINDOW_S)
        count = 0
        if self._redis is not None:
            try:
                count = await self._redis.incr_expiring(f"af:{address}:{minute}", _WINDOW_S * 1000)
            except Exception:  # noqa: BLE001 - any Redis failure: count locally instead (safe, stricter per process)
                count = 0
        if count == 0:
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= minute}
            count = self._counts[(address, minute)] = self._counts.get((address, minute), 0) + 1
        if count >= self._limit:
            self._blocked[address] = (minute + 1) * _WINDOW_S
            if len(self._blocked) > 10_000:
                self._blocked = {a: u for a, u in self._blocked.items() if u > now}
