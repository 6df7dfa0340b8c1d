"""The ``gateway-limits`` target: what budget leases and Redis rate limits cost per request.

The target is the plain gateway plus a hard organization budget and a hard key budget (both
far from their limits, so leases admit without a database round trip) and requests/min,
tokens/min and concurrency limits on the key and the organization, high enough never to
refuse, checked in Redis (one Lua script round trip per request). The notes report its
throughput against the plain ``gateway`` target (goal >= 0.9x) and the Redis round trip's share
of the latency the gateway adds (the script's own round trip, measured from the runner).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TypedDict

from gateway.limits.redis_limiter import RedisLimiter
from gateway.limits.windows import ScopeLimits
from tests.perf.results import TargetResult, percentile

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
_HIGH = "100000000"


class LimitsOptions(TypedDict, total=False):
    extra_env: dict[str, str]
    key_args: list[str]
    setup: list[list[str]]


def gateway_options(redis_url: str) -> LimitsOptions:
    """``gateway_target.start`` options: Redis, a limited key with a budget, org rate limits."""
    return {
        "extra_env": {"REDIS_URL": redis_url, "GATEWAY_REDIS_PREFIX": f"gwbench:{uuid.uuid4().hex[:8]}:"},
        "key_args": ["--rpm", _HIGH, "--tpm", _HIGH, "--max-parallel", "1000000", "--budget-usd", "1000000"],
        "setup": [["org", "set", "--org", "bench", "--by", "bench@example.com", "--rpm", _HIGH, "--tpm", _HIGH]],
    }


async def _script_rtt(redis_url: str, n: int) -> list[float]:
    limiter = RedisLimiter.from_url(redis_url, f"gwbench:rtt:{uuid.uuid4().hex[:8]}:")
    scopes = [ScopeLimits("key:k", 10**9, 10**9, 10**6), ScopeLimits("org:o", 10**9, 10**9, 0)]
    times: list[float] = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            await limiter.check(scopes, str(i), int(time.time() * 1000), 60_000)
            times.append(time.perf_counter() - t0)  # seconds, as percentile() takes them
        await limiter.release_many([(scopes, str(i), 0, int(time.time() * 1000)) for i in range(n)])
    finally:
        await limiter.close()
    return sorted(times)


def notes(results: list[TargetResult], redis_url: str, samples: int = 500) -> list[str]:
    """Throughput with limits on vs off, and the Redis round trip's share of the added latency."""
    out: list[str] = []
    by = {(r.target, r.dialect): r for r in results}
    for (target, dialect), r in by.items():
        if target != "gateway-limits":
            continue
        base = by.get(("gateway", dialect))
        if base is not None and base.rps and r.rps and base.rps.rate:
            out.append(
                f"leases + rate limits [{dialect}]: {r.rps.rate / base.rps.rate:.2f}x the plain gateway's requests/s"
                " (goal >= 0.9x)"
            )
        if base is not None and base.sps and r.sps and base.sps.rate:
            out.append(f"leases + rate limits [{dialect}]: {r.sps.rate / base.sps.rate:.2f}x its streams/s")
        try:
            rtt = asyncio.run(_script_rtt(redis_url, samples))
        except Exception as exc:  # noqa: BLE001 - a missing Redis is reported in the notes, not fatal
            out.append(f"redis round trip not measured: {exc}")
            continue
        p50 = percentile(rtt, 0.5) or 0.0
        if r.added_p50_ms:
            out.append(
                f"redis script round trip p50 {p50:.3f} ms = {100 * p50 / r.added_p50_ms:.0f}% of the "
                f"{r.added_p50_ms:.3f} ms gateway-limits adds [{dialect}]"
            )
            if base is not None and base.added_p50_ms is not None:
                out.append(f"limits add {r.added_p50_ms - base.added_p50_ms:.3f} ms p50 over the plain gateway")
    return out
