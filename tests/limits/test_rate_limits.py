"""The rate limiter against real Redis (database 5, a unique key prefix per test) and in process."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from gateway.errors import RateLimited, ServiceUnavailable
from gateway.limits.auth_throttle import AuthThrottle
from gateway.limits.guard import Limiter, RateLimitGuard
from gateway.limits.leases import RateLeases
from gateway.limits.local import LocalLimiter
from gateway.limits.redis_limiter import RedisLimiter
from gateway.limits.windows import ScopeLimits, format_reset, headers_for, wait_ms
from gateway.metrics import Metrics

REDIS_URL = "redis://127.0.0.1:6379/5"


def _prefix() -> str:
    return f"gwtest:{uuid.uuid4().hex[:10]}:"


async def _clean(prefix: str) -> None:
    r = RedisLimiter.from_url(REDIS_URL, prefix)
    keys = [k async for k in r._redis.scan_iter(match=prefix + "*")]
    if keys:
        await r._redis.delete(*keys)
    await r.close()


def _away_from_minute_edge() -> None:
    """Sliding windows weigh the previous minute in; start a burst early in a fresh minute's
    first 45 s so a test of exact counts does not straddle two windows."""
    while time.time() % 60 > 45:
        time.sleep(0.5)


Factory = Callable[[], Limiter]


@pytest.fixture(params=["redis", "leases", "local"])
async def limiters(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """A factory of limiters that share state like processes do (Redis: per-request checks, or
    quota leases) or not (local)."""
    prefix = _prefix()
    made: list[Limiter] = []
    local = LocalLimiter()

    def make() -> Limiter:
        lim: Limiter = local
        if request.param == "redis":
            lim = RedisLimiter.from_url(REDIS_URL, prefix)
        elif request.param == "leases":
            lim = RateLeases(RedisLimiter.from_url(REDIS_URL, prefix))
        made.append(lim)
        return lim

    yield make
    for lim in made:
        await lim.close()
    if request.param != "local":
        await _clean(prefix)


def _now() -> int:
    return int(time.time() * 1000)


async def test_requests_per_minute_admits_exactly_the_limit(limiters: Factory) -> None:
    _away_from_minute_edge()
    scopes = [ScopeLimits("key:k1", rpm=50)]
    lim = limiters()
    verdicts = await asyncio.gather(*(lim.check(scopes, str(i), _now(), 60_000) for i in range(60)))
    allowed = [v for v in verdicts if v.allowed]
    refused = [v for v in verdicts if not v.allowed]
    assert len(allowed) == 50
    assert {v.refused_kind for v in refused} == {"requests"} and all(v.retry_after_ms > 0 for v in refused)
    assert sorted(v.remaining_requests for v in allowed) == list(range(50))
    assert headers_for(allowed[0])["x-ratelimit-limit-requests"] == "50"


async def test_one_limit_is_shared_by_several_processes_through_redis() -> None:
    _away_from_minute_edge()
    prefix = _prefix()
    procs = [RedisLimiter.from_url(REDIS_URL, prefix, timeout_s=10.0, max_connections=8) for _ in range(4)]
    try:
        scopes = [ScopeLimits("org:o1", rpm=200)]
        verdicts = await asyncio.gather(*(procs[i % 4].check(scopes, str(i), _now(), 60_000) for i in range(300)))
        assert sum(v.allowed for v in verdicts) == 200  # N across 4 processes, not 4N
    finally:
        for p in procs:
            await p.close()
        await _clean(prefix)


async def test_the_tightest_scope_refuses_and_is_named(limiters: Factory) -> None:
    _away_from_minute_edge()
    lim = limiters()
    scopes = [ScopeLimits("key:k", rpm=100), ScopeLimits("user:u", rpm=2), ScopeLimits("org:o", rpm=100)]
    results = [await lim.check(scopes, str(i), _now(), 60_000) for i in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    assert results[2].refused_scope == "user:u"
    assert results[1].remaining_requests == 0 and results[1].limit_requests == 2


async def test_concurrency_slots_are_taken_and_given_back(limiters: Factory) -> None:
    lim = limiters()
    scopes = [ScopeLimits("key:p", parallel=2)]
    assert (await lim.check(scopes, "a", _now(), 60_000)).allowed
    assert (await lim.check(scopes, "b", _now(), 60_000)).allowed
    third = await lim.check(scopes, "c", _now(), 60_000)
    assert not third.allowed and third.refused_kind == "parallel"
    await lim.release(scopes, "a", 0, _now())
    assert (await lim.check(scopes, "c", _now(), 60_000)).allowed


async def test_a_crashed_process_slot_lapses_at_its_expiry(limiters: Factory) -> None:
    lim = limiters()
    scopes = [ScopeLimits("key:dead", parallel=1)]
    assert (await lim.check(scopes, "a", _now(), 50)).allowed  # never released
    assert not (await lim.check(scopes, "b", _now(), 50)).allowed
    await asyncio.sleep(0.1)
    assert (await lim.check(scopes, "b", _now(), 50)).allowed


async def test_tokens_per_minute_count_what_settlement_reports(limiters: Factory) -> None:
    _away_from_minute_edge()
    lim = limiters()
    scopes = [ScopeLimits("key:t", tpm=1000)]
    first = await lim.check(scopes, "a", _now(), 60_000)
    assert first.allowed and first.remaining_tokens == 1000
    await lim.release(scopes, "a", 600, _now())
    second = await lim.check(scopes, "b", _now(), 60_000)
    assert second.allowed and second.remaining_tokens == 400
    await lim.release(scopes, "b", 500, _now())
    third = await lim.check(scopes, "c", _now(), 60_000)
    assert not third.allowed and third.refused_kind == "tokens" and third.retry_after_ms > 0


async def test_both_backends_give_the_same_answers_from_the_same_history(limiters: Factory) -> None:
    """The same requests at the same (given) times: the same admissions, remaining counts,
    resets and retry times from Redis as in process (the Redis script returns the counts it
    weighed; the wait is worked out by ``windows``, as the local limiter does)."""
    lim = limiters()
    minute = _now() // 60_000 + 1000  # a minute of its own, far from the clock's
    scopes = [ScopeLimits("key:same", rpm=10, tpm=500), ScopeLimits("org:same", rpm=20)]
    for i in range(8):  # the previous minute: 8 requests, 300 tokens
        assert (await lim.check(scopes, f"p{i}", minute * 60_000 + 1_000, 60_000)).allowed
    await lim.release(scopes, "p0", 300, minute * 60_000 + 2_000)
    at = (minute + 1) * 60_000 + 45_000  # a quarter of the previous minute still weighs in: 2 requests
    verdicts = [await lim.check(scopes, f"n{i}", at, 60_000) for i in range(9)]
    assert [v.allowed for v in verdicts] == [True] * 8 + [False]
    first, refused = verdicts[0], verdicts[-1]
    assert (first.limit_requests, first.remaining_requests, first.reset_requests_ms) == (10, 7, 15_000)
    assert (first.limit_tokens, first.remaining_tokens, first.reset_tokens_ms) == (500, 425, 15_000)
    assert (refused.refused_scope, refused.refused_kind) == ("key:same", "requests")
    assert refused.retry_after_ms == wait_ms(8, 8, 45_000, 9) == 7_500  # 8 * (1 - f) + 8 <= 9 from f = 0.875
    await lim.release(scopes, "n0", 500, at)
    spent = await lim.check([ScopeLimits("key:same", tpm=500)], "t", at + 1, 60_000)
    assert (spent.refused_kind, spent.retry_after_ms) == ("tokens", wait_ms(300, 500, 45_001, 499))


def test_window_arithmetic() -> None:
    assert wait_ms(0, 10, 30_000, 10) == 0
    assert wait_ms(0, 10, 30_000, 9) == 30_000 + 6_000  # next window, until 10 * (1 - g) <= 9
    assert wait_ms(10, 0, 30_000, 4) == 6_000  # 10 * (1 - f) <= 4 from f = 0.6, i.e. 36 s in
    assert format_reset(250) == "250ms" and format_reset(2000) == "2s" and format_reset(360_000) == "6m0s"


async def test_fail_open_and_fail_closed_when_redis_is_away() -> None:
    from tests.limits.ctx import limited_context

    ctx = limited_context(rpm=5)
    for mode, expected in (("open", None), ("closed", ServiceUnavailable)):
        metrics = Metrics()
        guard = RateLimitGuard(
            RedisLimiter.from_url("redis://127.0.0.1:1/0", "x:", timeout_s=0.2), metrics, failure_mode=mode
        )
        if expected is None:
            assert await guard.acquire(ctx) is None  # admitted, holding nothing
        else:
            with pytest.raises(expected):
                await guard.acquire(ctx)
        sample = metrics.registry.get_sample_value("gateway_rate_limiter_failures_total", {"mode": mode})
        assert sample == 1.0
        await guard.close()


async def test_guard_refuses_with_retry_after_and_headers() -> None:
    from tests.limits.ctx import limited_context

    _away_from_minute_edge()
    guard = RateLimitGuard(LocalLimiter(), Metrics())
    first = limited_context(rpm=1)
    hold = await guard.acquire(first)
    assert hold is not None and hold.response_headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(RateLimited) as refused:
        await guard.acquire(limited_context(rpm=1, same_key_as=first))
    assert int(refused.value.headers["retry-after"]) >= 1
    assert "this API key may send 1 requests per minute" in refused.value.message


@pytest.mark.parametrize("shared", [True, False])
async def test_failed_authentication_is_throttled_per_address(shared: bool) -> None:
    prefix = _prefix()
    backends = [RedisLimiter.from_url(REDIS_URL, prefix) for _ in range(2)] if shared else [None, None]
    throttles = [AuthThrottle(4, b) for b in backends]
    try:
        for i in range(4):
            throttles[i % 2].check("10.9.9.9")
            await throttles[i % 2].failed("10.9.9.9")
        if shared:  # counted across both: the fourth failure blocks the address everywhere
            with pytest.raises(RateLimited) as blocked:
                throttles[1].check("10.9.9.9")
            assert blocked.value.code == "auth_throttled" and "retry-after" in blocked.value.headers
        else:  # per process: each saw two failures, so neither blocks yet
            throttles[1].check("10.9.9.9")
            await throttles[1].failed("10.9.9.9")
            await throttles[1].failed("10.9.9.9")
            with pytest.raises(RateLimited):
                throttles[1].check("10.9.9.9")
        throttles[0].check("10.1.1.1")  # other addresses are not affected
    finally:
        for b in backends:
            if b is not None:
                await b.close()
        await _clean(prefix)


async def test_the_packed_check_follows_the_minute_and_the_scope_set() -> None:
    """The check frame's keys and limits are packed once per scope set and minute: a new
    minute, other limits or another ttl must not reuse a stale frame."""
    prefix = _prefix()
    lim = RedisLimiter.from_url(REDIS_URL, prefix)
    try:
        minute = _now() // 60_000
        at = minute * 60_000 + 1_000
        scopes = [ScopeLimits("key:m", rpm=10, parallel=5)]
        assert (await lim.check(scopes, "a", at, 60_000)).remaining_requests == 9
        assert (await lim.check(scopes, "b", at + 60_000, 60_000)).remaining_requests == 8  # 0.98 of "a" weighs in
        tighter = [ScopeLimits("key:m", rpm=4, parallel=5)]
        assert (await lim.check(tighter, "c", at + 60_000, 60_000)).limit_requests == 4
        assert (await lim.check(tighter, "d", at + 60_000, 5_000)).allowed
        r = lim._redis
        assert await r.get(f"{prefix}r:key:m:{minute}") == b"1"
        assert await r.get(f"{prefix}r:key:m:{minute + 1}") == b"3"
        assert await r.zscore(f"{prefix}c:key:m", "d") == at + 60_000 + 5_000  # its own ttl
        assert await r.zscore(f"{prefix}c:key:m", "c") == at + 60_000 + 60_000
    finally:
        await lim.close()
        await _clean(prefix)


async def test_every_counter_and_slot_set_expires() -> None:
    """Counters get their expiry once, from the call that created them (not on every
    request): each key the check and the settlement write must still expire, and a later
    call must not take the expiry away or push it out."""
    prefix = _prefix()
    lim = RedisLimiter.from_url(REDIS_URL, prefix)
    try:
        now = _now()
        minute = now // 60_000
        scopes = [ScopeLimits("key:e", rpm=100, tpm=10_000, parallel=10), ScopeLimits("org:e", rpm=100, tpm=10_000)]
        r = lim._redis
        for rid in ("a", "b", "c"):
            assert (await lim.check(scopes, rid, now, 60_000)).allowed
        assert await r.zcard(f"{prefix}c:key:e") == 3
        assert 0 < await r.pttl(f"{prefix}c:key:e") <= 120_000  # the slot set: slot ttl + a window
        for rid in ("a", "b", "c"):
            await lim.release(scopes, rid, 40, now)
        for name in ("r:key:e", "r:org:e", "t:key:e", "t:org:e"):
            key = f"{prefix}{name}:{minute}"
            assert await r.get(key) == (b"3" if name.startswith("r") else b"120")
            assert 0 < await r.pttl(key) <= 120_000, key  # two windows, from when it was created
        assert not await r.exists(f"{prefix}c:key:e")  # every slot given back: the set is gone
    finally:
        await lim.close()
        await _clean(prefix)


async def test_one_flush_settles_many_calls_of_several_scope_sets_and_minutes() -> None:
    """A flush is one script call aggregated by key: every slot goes back (more than one
    ZREM's worth of members in one set), and each minute's token count gets the sum of what
    that minute's calls used, whichever scope sets they came from."""
    prefix = _prefix()
    lim = RedisLimiter.from_url(REDIS_URL, prefix)
    try:
        minute = _now() // 60_000
        at = minute * 60_000 + 1_000
        shared = ScopeLimits("org:f", tpm=10**9, parallel=10_000)
        one = [ScopeLimits("key:f1", tpm=10**9, parallel=10_000), shared]
        two = [ScopeLimits("key:f2", rpm=10**6), shared]  # no own slot or token count
        calls = [(one if i % 3 else two, f"r{i}") for i in range(1_200)]
        for scopes, rid in calls:
            assert (await lim.check(scopes, rid, at, 600_000)).allowed
        r = lim._redis
        assert await r.zcard(f"{prefix}c:org:f") == 1_200
        items = [(s, rid, i + 1, at if i < 700 else at + 60_000) for i, (s, rid) in enumerate(calls)]
        await lim.release_many(items)
        assert not await r.exists(f"{prefix}c:org:f") and not await r.exists(f"{prefix}c:key:f1")
        of_one = {i for i, (s, _) in enumerate(calls) if s is one}
        for name, picked in (("org:f", set(range(len(calls)))), ("key:f1", of_one)):
            for m, lo, hi in ((minute, 0, 700), (minute + 1, 700, 1_200)):
                want = sum(i + 1 for i in range(lo, hi) if i in picked)
                assert await r.get(f"{prefix}t:{name}:{m}") == str(want).encode(), (name, m)
        assert not await r.exists(f"{prefix}t:key:f2:{minute}")
        await lim.release_many([])  # nothing queued: nothing sent, no error
    finally:
        await lim.close()
        await _clean(prefix)
