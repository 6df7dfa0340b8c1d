"""A Python load generator for when ``wrk`` is missing, and for time to first token.

``wrk`` only sees complete responses, so time to first body byte is measured here. The
client is a bare ``asyncio.Protocol`` with the ``httptools`` response parser on uvloop:
an aiohttp client costs several times more CPU per request, and on two cores the load
generator shares a core with the mock, so a heavy client would cap the numbers it reports.

Each connection sends its request, waits for the whole response (a stream counts when
its terminating chunk has arrived), and sends the next: closed-loop, like ``wrk``.
Responses finishing inside the measuring window (after the warm-up) are counted.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast
from urllib.parse import urlsplit

import httptools

from tests.perf.results import LoadResult, Scenario, percentile

_CONNECT_RETRY_S = 0.05  # after a failed connect: back off instead of spinning


class _Exchange(asyncio.Protocol):
    """One keep-alive connection; ``arm`` gives it the future of the next response."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._future: asyncio.Future[tuple[int, float]] | None = None
        self._first_byte = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._future is not None and not self._future.done():
            self._future.set_exception(ConnectionError("connection closed mid-response"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._future is not None and not self._future.done():
                self._future.set_exception(ConnectionError(f"bad response: {exc}"))

    def arm(self, future: asyncio.Future[tuple[int, float]]) -> None:
        self._future = future
        self._first_byte = 0.0

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        if not self._first_byte:
            self._first_byte = time.perf_counter()

    def on_message_complete(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result((self._parser.get_status_code(), self._first_byte))


class _Tally:
    """What the connections observed inside the measuring window."""

    def __init__(self, window_start: float, window_end: float) -> None:
        self.start = window_start
        self.end = window_end
        self.latencies: list[float] = []
        self.ttfts: list[float] = []
        self.errors: dict[str, int] = {"connect": 0, "read": 0, "status": 0, "timeout": 0}

    def error(self, kind: str, at: float) -> None:
        if self.start <= at <= self.end:
            self.errors[kind] += 1


def _request_bytes(scenario: Scenario) -> tuple[str, int, bytes]:
    parts = urlsplit(scenario.url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path or "/"
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(scenario.body)}"]
    head += [f"{k}: {v}" for k, v in scenario.headers.items()]
    return host, port, ("\r\n".join(head) + "\r\n\r\n").encode() + scenario.body


async def _connection(scenario: Scenario, tally: _Tally, target: tuple[str, int, bytes]) -> None:
    loop = asyncio.get_running_loop()
    host, port, request = target
    exchange: _Exchange | None = None
    while time.perf_counter() < tally.end:
        if exchange is None or exchange.transport is None:
            try:
                _, exchange = await loop.create_connection(_Exchange, host, port)
            except OSError:
                tally.error("connect", time.perf_counter())
                exchange = None
                await asyncio.sleep(_CONNECT_RETRY_S)
                continue
        future: asyncio.Future[tuple[int, float]] = loop.create_future()
        exchange.arm(future)
        sent = time.perf_counter()
        assert exchange.transport is not None
        exchange.transport.write(request)
        # Stop waiting at the window's end: a response finishing later would not be counted.
        cut_by_window = tally.end - sent < scenario.timeout_s
        try:
            async with asyncio.timeout(min(scenario.timeout_s, max(tally.end - sent, 0.0) + 0.01)):
                status, first_byte = await future
        except TimeoutError:
            if not cut_by_window:
                tally.error("timeout", time.perf_counter())
            if exchange.transport is not None:
                exchange.transport.close()
            exchange = None
            continue
        except ConnectionError:
            tally.error("read", time.perf_counter())
            exchange = None
            continue
        done = time.perf_counter()
        if status != 200:
            tally.error("status", done)
        elif tally.start <= done <= tally.end:
            tally.latencies.append(done - sent)
            tally.ttfts.append((first_byte or done) - sent)
    if exchange is not None and exchange.transport is not None:
        exchange.transport.close()


async def run_load(scenario: Scenario) -> LoadResult:
    """Drive ``scenario`` for its warm-up plus duration and report what finished in the window."""
    now = time.perf_counter()
    tally = _Tally(now + scenario.warmup_s, now + scenario.warmup_s + scenario.duration_s)
    target = _request_bytes(scenario)
    tasks = [asyncio.create_task(_connection(scenario, tally, target)) for _ in range(scenario.connections)]
    # Bounded: every task ends by itself at the window's end; cancel any straggler.
    done, pending = await asyncio.wait(tasks, timeout=scenario.warmup_s + scenario.duration_s + 2)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            raise RuntimeError("a load connection failed") from task.exception()
    lat = sorted(tally.latencies)
    ttft = sorted(tally.ttfts)
    return LoadResult(
        tool="python",
        connections=scenario.connections,
        completed=len(lat),
        errors=tally.errors,
        duration_s=scenario.duration_s,
        rate=len(lat) / scenario.duration_s,
        p50_ms=percentile(lat, 0.50),
        p99_ms=percentile(lat, 0.99),
        ttft_p50_ms=percentile(ttft, 0.50),
        ttft_p99_ms=percentile(ttft, 0.99),
    )
