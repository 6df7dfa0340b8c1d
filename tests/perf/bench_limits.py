"""The ``gateway-limits`` target: what budget leases and Redis rate limits cost per request.

The target is the plain gateway plus a hard organization budget and a hard key budget (both
far from their limits, so leases admit without a database round trip) and requests/min,
tokens/min and concurrency limits on the key and the organization, high enough never to
refuse, checked in Redis (one Lua script round trip per request). The notes report its
throughput against the plain ``gateway`` target (goal >= 0.9x) and the Redis round trip's share
of the latency the gateway adds (the script's own round trip, measured from the runner).

Redis is part of the deployment, not of the gateway process: in production it is a server of
its own that every replica shares. The bench starts a ``redis-server`` of its own (nothing on
disk, statistics from zero; without ``redis-server``, or with ``--redis-url``, the given Redis
is used as it is), left free to run on any core like PostgreSQL, and reports the Redis server's
CPU per script call separately. On a 2-core machine that CPU comes out of the same two cores:
pinned beside the load generator it slowed the load itself (two runs: 0.90x and 0.77x the
plain gateway's requests/s, 0.81x and 0.88x its streams/s), so it is not pinned.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from typing import TypedDict

import redis

from gateway.limits.redis_limiter import RedisLimiter
from gateway.limits.windows import ScopeLimits
from tests.perf.procs import Child, Children, free_port
from tests.perf.results import TargetResult, percentile

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
_HIGH = "100000000"


def start_redis(children: Children, cores: frozenset[int] | None) -> tuple[Child, str] | None:
    """A throwaway ``redis-server`` (nothing on disk) on ``cores``; None without the binary."""
    exe = shutil.which("redis-server")
    if exe is None:
        return None
    port = free_port()
    cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    child = children.start("redis", cmd, cores=cores)
    client = redis.Redis(port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + 15
    while True:
        child.check_alive()
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    client.close()
    return child, f"redis://127.0.0.1:{port}/0"


def server_cpu_note(redis_url: str) -> str | None:
    """The Redis server's CPU per script call so far (for the bench's own Redis: the limits target's checks)."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        cpu = client.info("cpu")
        stats = client.info("commandstats").get("cmdstat_evalsha")
    finally:
        client.close()
    if not stats or not stats.get("calls"):
        return None
    seconds = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
    return (
        f"redis server CPU: {seconds * 1e6 / stats['calls']:.1f} us per script call over {stats['calls']} calls"
        f" ({stats['usec_per_call']:.1f} us of it inside the scripts), on the same two cores as everything else"
    )


class LimitsOptions(TypedDict, total=False):
    extra_env: dict[str, str]
    key_args: list[str]
    setup: list[list[str]]


HARD_BUDGET = ("--budget-usd", "1000000", "--hard-limit")  # ``gateway bootstrap``'s: the org's budget


def gateway_options(redis_url: str, *, rates: bool = True, budget: bool = True) -> LimitsOptions:
    """``gateway_target.start`` options: Redis, a limited key with a budget, org rate limits.

    ``rates=False`` leaves out the rate limits (and Redis), ``budget=False`` the key's budget
    (the org's hard budget is ``HARD_BUDGET``, given to ``bootstrap``).
    """
    key_args = ["--budget-usd", "1000000"] if budget else []
    if not rates:
        return {"key_args": key_args}
    return {
        "extra_env": {"REDIS_URL": redis_url, "GATEWAY_REDIS_PREFIX": f"gwbench:{uuid.uuid4().hex[:8]}:"},
        "key_args": ["--rpm", _HIGH, "--tpm", _HIGH, "--max-parallel", "1000000", *key_args],
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
