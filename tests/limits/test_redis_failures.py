"""The Redis limiter when Redis fails: gone mid-flight, restarted without its scripts, stalled.

Each test runs on asyncio's loop and on uvloop, with its own throwaway ``redis-server`` (no
persistence) on a free port, so it can kill, restart or stop it without touching the shared one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvloop
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.errors import ServiceUnavailable
from gateway.limits.guard import Limiter, RateLimitGuard
from gateway.limits.leases import RateLeases
from gateway.limits.redis_limiter import RedisLimiter
from gateway.limits.windows import ScopeLimits
from gateway.metrics import Metrics
from tests.limits.ctx import limited_context
from tests.support.server import free_port

SCOPES = [ScopeLimits("key:k", rpm=1000, tpm=10_000, parallel=100), ScopeLimits("org:o", rpm=1000)]


class Server:
    """A ``redis-server`` that a test may kill, restart (empty: no scripts) or pause."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.port = free_port()
        self.args = args
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/3"

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen([*cmd, *self.args], cwd=self.tmp, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)


Run = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Run:
    """Both loops: ``gateway serve`` runs uvloop (whose transports differ), tests asyncio's."""
    return uvloop.run if request.param == "uvloop" else asyncio.run


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path)
    s.start()
    try:
        yield s
    finally:
        if s.proc is not None:
            s.signal(signal.SIGCONT)
        s.kill()


def with_limiter(server: Server, body: Callable[[RedisLimiter], Awaitable[None]]) -> Coroutine[Any, Any, None]:
    async def go() -> None:
        lim = RedisLimiter.from_url(server.url, "t:", timeout_s=0.5)
        try:
            await body(lim)
        finally:
            await lim.close()

    return go()


def _now() -> int:
    return int(time.time() * 1000)


def test_checks_land_in_the_configured_database(server: Server, run: Run) -> None:
    async def body(limiter: RedisLimiter) -> None:
        assert (await limiter.check(SCOPES, "a", _now(), 60_000)).allowed
        r = aioredis.Redis.from_url(server.url)
        try:
            assert await r.zcard("t:c:key:k") == 1  # db 3, as the URL says
        finally:
            await r.aclose()

    run(with_limiter(server, body))


def test_redis_gone_mid_flight_fails_every_owed_check_then_reconnects(server: Server, run: Run) -> None:
    async def body(limiter: RedisLimiter) -> None:
        assert (await limiter.check(SCOPES, "warm", _now(), 60_000)).allowed
        server.signal(signal.SIGSTOP)  # the checks below are written and owed when Redis dies
        checks = [asyncio.ensure_future(limiter.check(SCOPES, str(i), _now(), 60_000)) for i in range(20)]
        await asyncio.sleep(0.05)
        server.kill()  # SIGKILL while stopped: it dies with the checks unanswered
        results = await asyncio.wait_for(asyncio.gather(*checks, return_exceptions=True), 2)
        assert all(isinstance(r, RedisConnectionError) for r in results), results
        with pytest.raises(RedisConnectionError):  # Redis away: connecting fails fast
            await limiter.check(SCOPES, "away", _now(), 60_000)
        server.start()  # back, empty: the scripts are loaded again on NOSCRIPT
        assert (await limiter.check(SCOPES, "back", _now(), 60_000)).allowed

    run(with_limiter(server, body))


def test_a_restart_that_drops_the_scripts_loads_them_and_retries_once(server: Server, run: Run) -> None:
    async def body(limiter: RedisLimiter) -> None:
        assert (await limiter.check(SCOPES, "a", _now(), 60_000)).allowed
        server.kill()
        server.start()
        await asyncio.sleep(0.05)  # the old connection's end is seen
        verdicts = await asyncio.gather(*(limiter.check(SCOPES, str(i), _now(), 60_000) for i in range(10)))
        assert all(v.allowed for v in verdicts)
        r = aioredis.Redis.from_url(server.url)
        try:
            await r.script_flush()  # and on a live connection: the settle script is gone too
            minute = _now() // 60_000
            await limiter.release_many([(SCOPES, str(i), 100, _now()) for i in range(10)])
            assert await r.zcard("t:c:key:k") == 0  # every slot given back
            assert int(await r.get(f"t:t:key:k:{minute}") or 0) in (0, 1000)  # 0 if the minute just turned
            assert (await limiter.check(SCOPES, "after", _now(), 60_000)).allowed
        finally:
            await r.aclose()

    run(with_limiter(server, body))


def test_a_stalled_redis_times_out_within_the_socket_timeout(server: Server, run: Run) -> None:
    async def body(limiter: RedisLimiter) -> None:
        assert (await limiter.check(SCOPES, "a", _now(), 60_000)).allowed
        server.signal(signal.SIGSTOP)
        t0 = time.monotonic()
        checks = (limiter.check(SCOPES, str(i), _now(), 60_000) for i in range(5))
        results = await asyncio.gather(*checks, return_exceptions=True)
        took = time.monotonic() - t0
        assert all(isinstance(r, RedisTimeoutError) for r in results), results
        assert 0.4 <= took < 1.5, took  # one watchdog for all of them, at about the 0.5 s timeout
        server.signal(signal.SIGCONT)
        assert (await limiter.check(SCOPES, "b", _now(), 60_000)).allowed  # on a new connection

    run(with_limiter(server, body))


def _backend(kind: str, url: str, timeout_s: float) -> Limiter:
    lim = RedisLimiter.from_url(url, "t:", timeout_s=timeout_s)
    return RateLeases(lim) if kind == "leases" else lim


@pytest.mark.parametrize("kind", ["checks", "leases"])
@pytest.mark.parametrize("mode", ["open", "closed"])
def test_the_guard_fails_open_or_closed_when_redis_goes_away_mid_flight(
    server: Server, run: Run, mode: str, kind: str
) -> None:
    async def body() -> None:
        metrics = Metrics()
        guard = RateLimitGuard(_backend(kind, server.url, 0.5), metrics, failure_mode=mode)
        try:
            assert await guard.acquire(limited_context(rpm=5)) is not None
            server.signal(signal.SIGSTOP)
            acquiring = asyncio.ensure_future(guard.acquire(limited_context(rpm=5)))
            await asyncio.sleep(0.05)
            server.kill()
            if mode == "open":
                assert await acquiring is None  # admitted, holding nothing
            else:
                with pytest.raises(ServiceUnavailable):
                    await acquiring
            sample = metrics.registry.get_sample_value("gateway_rate_limiter_failures_total", {"mode": mode})
            assert sample == 1.0
        finally:
            await guard.close()

    run(body())


@pytest.mark.parametrize("kind", ["checks", "leases"])
def test_a_stalled_redis_fails_the_guard_open_at_the_timeout(server: Server, run: Run, kind: str) -> None:
    async def body() -> None:
        metrics = Metrics()
        guard = RateLimitGuard(_backend(kind, server.url, 0.3), metrics, failure_mode="open")
        try:
            assert await guard.acquire(limited_context(rpm=5)) is not None
            server.signal(signal.SIGSTOP)
            assert await asyncio.wait_for(guard.acquire(limited_context(rpm=5)), 1.5) is None
            sample = metrics.registry.get_sample_value("gateway_rate_limiter_failures_total", {"mode": "open"})
            assert sample == 1.0
        finally:
            server.signal(signal.SIGCONT)
            await guard.close()

    run(body())


def test_a_lease_held_admits_while_redis_is_away_and_takes_resume_after_a_restart(server: Server, run: Run) -> None:
    async def body() -> None:
        leases = RateLeases(RedisLimiter.from_url(server.url, "t:", timeout_s=0.5))
        scopes = [ScopeLimits("key:lease", rpm=100_000, parallel=1000)]
        try:
            for i in range(8):  # sequential: the leases double, the last holds more than it used
                assert (await leases.check(scopes, f"r{i}", _now(), 60_000)).allowed
                await leases.release(scopes, f"r{i}", 0, _now())
            server.kill()
            assert (await leases.check(scopes, "held", _now(), 60_000)).allowed  # no round trip
            served, failure = 0, None
            while failure is None and served < 1000:  # until the lease runs out and a take is needed
                try:
                    assert (await leases.check(scopes, f"x{served}", _now(), 60_000)).allowed
                    served += 1
                except RedisConnectionError as exc:
                    failure = exc
            assert failure is not None and served < 20, served  # what the lease held, no more
            server.start()  # back, empty: the lease script is loaded again on NOSCRIPT
            assert (await leases.check(scopes, "back", _now(), 60_000)).allowed
            assert (await leases.check(scopes, "back2", _now(), 60_000)).allowed
        finally:
            await leases.close()

    run(body())


def test_a_password_is_sent_and_a_wrong_one_fails_like_redis_away(tmp_path: Path, run: Run) -> None:
    s = Server(tmp_path, "--requirepass", "sekret")
    s.start()

    async def body() -> None:
        good = RedisLimiter.from_url(f"redis://:sekret@127.0.0.1:{s.port}/2", "t:")
        bad = RedisLimiter.from_url(f"redis://:wrong@127.0.0.1:{s.port}/2", "t:")
        try:
            assert (await good.check(SCOPES, "a", _now(), 60_000)).allowed
            with pytest.raises(RedisConnectionError):
                await bad.check(SCOPES, "b", _now(), 60_000)
        finally:
            await good.close()
            await bad.close()

    try:
        run(body())
    finally:
        s.kill()
