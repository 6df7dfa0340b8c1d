"""Quota leases against real Redis (database 5, a unique key prefix per test): how few round
trips they make, that processes together still admit the limit, and that what a process does
not use goes back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from gateway.limits.leases import RateLeases
from gateway.limits.redis_limiter import RedisLimiter
from gateway.limits.windows import WINDOW_MS, ScopeLimits
from tests.limits.test_rate_limits import REDIS_URL, _away_from_minute_edge, _clean, _now


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    p = f"gwtest:{uuid.uuid4().hex[:10]}:"
    yield p
    await _clean(p)


async def _script_calls() -> int:
    """Script calls Redis has served (all clients): ``EVALSHA`` in ``INFO commandstats``."""
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        stats = await r.info("commandstats")
    finally:
        await r.aclose()
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def _count(prefix: str, scope: str) -> int:
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        value = await r.get(f"{prefix}r:{scope}:{_now() // WINDOW_MS}")
    finally:
        await r.aclose()
    return int(value or 0)


async def _slots(prefix: str, scope: str) -> int:
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        return int(await r.zcard(f"{prefix}c:{scope}"))
    finally:
        await r.aclose()


async def test_a_steady_load_far_from_the_limit_needs_few_round_trips(prefix: str) -> None:
    _away_from_minute_edge()
    lim = RateLeases(RedisLimiter.from_url(REDIS_URL, prefix))
    scopes = [ScopeLimits("key:busy", rpm=1_000_000, tpm=10_000_000, parallel=1000), ScopeLimits("org:busy", rpm=10**8)]
    before = await _script_calls()
    try:
        for i in range(1000):
            verdict = await lim.check(scopes, f"r{i}", _now(), 60_000)
            assert verdict.allowed
            await lim.release(scopes, f"r{i}", 10, _now())
    finally:
        await lim.close()
    calls = await _script_calls() - before
    # Slices double while a lease runs out before its period: 1, 2, 4, ... 512 requests is 10
    # takes; settlements (tokens) are one call each here (the guard batches them per flush).
    takes = calls - 1000 - 1  # minus the releases and the give-back at close
    print(f"1000 requests: {takes} lease calls")
    assert 0 < takes <= 20, calls


async def test_a_warmed_lease_and_a_burst_across_processes_admit_exactly_the_limit(prefix: str) -> None:
    _away_from_minute_edge()
    procs = [RateLeases(RedisLimiter.from_url(REDIS_URL, prefix, timeout_s=10.0)) for _ in range(4)]
    scopes = [ScopeLimits("org:shared", rpm=200)]
    try:
        # Sequential requests far from the limit: process 0's leases grow past what it uses.
        for i in range(20):
            assert (await procs[0].check(scopes, f"w{i}", _now(), 60_000)).allowed
        assert await _count(prefix, "org:shared") > 20
        verdicts = await asyncio.gather(*(procs[i % 4].check(scopes, str(i), _now(), 60_000) for i in range(300)))
    finally:
        for p in procs:
            await p.close()
    assert 20 + sum(v.allowed for v in verdicts) == 200
    assert {v.refused_kind for v in verdicts if not v.allowed} == {"requests"}
    assert await _count(prefix, "org:shared") == 200


async def test_a_burst_across_processes_admits_the_limit_and_no_more(prefix: str) -> None:
    _away_from_minute_edge()
    procs = [RateLeases(RedisLimiter.from_url(REDIS_URL, prefix, timeout_s=10.0)) for _ in range(4)]
    scopes = [ScopeLimits("org:burst", rpm=200)]
    try:
        verdicts = await asyncio.gather(*(procs[i % 4].check(scopes, str(i), _now(), 60_000) for i in range(300)))
    finally:
        for p in procs:
            await p.close()
    assert sum(v.allowed for v in verdicts) == 200
    assert await _count(prefix, "org:burst") == 200  # nothing taken and left unused


async def test_what_a_process_does_not_use_goes_back(prefix: str) -> None:
    _away_from_minute_edge()
    lim = RateLeases(RedisLimiter.from_url(REDIS_URL, prefix), lease_ms=100)
    scopes = [ScopeLimits("key:idle", rpm=100_000, parallel=1000)]
    try:
        for i in range(40):  # sequential: each lease runs out at once, so the next doubles
            assert (await lim.check(scopes, f"r{i}", _now(), 60_000)).allowed
            await lim.release(scopes, f"r{i}", 0, _now())
        taken = await _count(prefix, "key:idle")
        assert taken > 40  # the last lease holds more than was used
        assert await _slots(prefix, "key:idle") >= 1
        await asyncio.sleep(0.25)  # a lease period past its end, unused
        await lim.give_back(_now())
        assert await _count(prefix, "key:idle") == 40
        assert await _slots(prefix, "key:idle") == 0
    finally:
        await lim.close()


async def test_close_gives_back_every_slot_and_unused_request(prefix: str) -> None:
    _away_from_minute_edge()
    lim = RateLeases(RedisLimiter.from_url(REDIS_URL, prefix))
    scopes = [ScopeLimits("key:bye", rpm=100_000, parallel=100)]
    for i in range(10):
        assert (await lim.check(scopes, f"r{i}", _now(), 60_000)).allowed
    await lim.release(scopes, "r0", 0, _now())  # nine still in flight at shutdown
    assert await _slots(prefix, "key:bye") >= 10
    await lim.close()
    assert await _slots(prefix, "key:bye") == 0
    assert await _count(prefix, "key:bye") == 10


async def test_tokens_settled_elsewhere_show_up_within_a_lease_period(prefix: str) -> None:
    _away_from_minute_edge()
    a = RateLeases(RedisLimiter.from_url(REDIS_URL, prefix), lease_ms=200)
    b = RateLeases(RedisLimiter.from_url(REDIS_URL, prefix), lease_ms=200)
    scopes = [ScopeLimits("key:tok", tpm=1000)]
    try:
        assert (await a.check(scopes, "a1", _now(), 60_000)).allowed
        assert (await b.check(scopes, "b1", _now(), 60_000)).allowed
        await b.release(scopes, "b1", 1000, _now())  # b spends the minute's tokens
        await asyncio.sleep(0.25)  # a's lease ends
        refused = await a.check(scopes, "a2", _now(), 60_000)
        assert not refused.allowed and refused.refused_kind == "tokens"
    finally:
        await a.close()
        await b.close()


async def test_requests_arriving_as_a_take_finishes_wait_for_the_next_one(prefix: str) -> None:
    """Near the limit every take grants only the requests waiting for it, so requests arriving
    on every loop tick keep finding empty leases, some while a finished take is still
    registered (its done callbacks not run yet): each starts or joins a take and gets its
    answer (a request that awaited a finished take would loop without yielding)."""
    _away_from_minute_edge()
    lim = RateLeases(RedisLimiter.from_url(REDIS_URL, prefix))

    async def one(scopes: list[ScopeLimits], i: int) -> bool:
        for _ in range(i):
            await asyncio.sleep(0)  # arrivals spread over the loop's ticks, as a server's are
        return (await lim.check(scopes, str(i), _now(), 60_000)).allowed

    try:
        for round_ in range(10):
            # Close enough to the limit that a take grants only the requests waiting for it.
            scopes = [ScopeLimits(f"key:race{round_}", rpm=250)]
            results = await asyncio.wait_for(asyncio.gather(*(one(scopes, i) for i in range(200))), 10)
            assert all(results)
    finally:
        await lim.close()
