"""A mock OpenAI/Anthropic upstream that is much cheaper than anything it serves.

Run as ``python -m tests.perf.mock_upstream --port P --events 10 --interval-ms 5``.

Why not an aiohttp web app: on two cores the mock shares a core with the load generator,
and at the floor's ~7k req/s an aiohttp app would eat most of that core and become the
thing being measured. So this is a bare ``asyncio.Protocol`` with the ``httptools`` parser
(what uvicorn uses), uvloop when installed, and every response byte precomputed: a request
costs one JSON decode of its body and one ``transport.write``. Paced streams are driven
by ``loop.call_later`` timers, not a coroutine per stream.

Routes: ``POST /v1/chat/completions`` (OpenAI) and ``POST /v1/messages`` (Anthropic), each
JSON or, with ``"stream": true``, SSE of ``--events`` content events ``--interval-ms``
apart (the first one right after the headers, so time to first token measured directly
against the mock is ~0). ``GET`` on any path answers 200 (readiness). HTTP/1.1
keep-alive; no pipelining (no benchmark client pipelines).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, cast

import httptools
import msgspec

from tests.perf.sse_bodies import ResponseBodies, build_bodies

_JSON_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n"
)
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
)
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found"
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
_MAX_MODELS = 32  # bodies are cached per requested model; bounded so a bad client cannot grow it


class StreamOptions(msgspec.Struct):
    """OpenAI's ``stream_options``; only ``include_usage`` changes the response."""

    include_usage: bool = False


class RequestBody(msgspec.Struct):
    """The fields of a chat request that shape the mock's answer; the rest is ignored."""

    model: str = ""
    stream: bool = False
    stream_options: StreamOptions | None = None


@dataclass(frozen=True)
class Pacing:
    """How a streamed response is paced: ``events`` content events ``interval_s`` apart."""

    events: int
    interval_s: float


class _Responses:
    """Precomputed wire bytes per (dialect, model), built on first use of a model."""

    def __init__(self, pacing: Pacing) -> None:
        self._pacing = pacing
        self._cache: dict[str, ResponseBodies] = {}

    def bodies(self, model: str, default: str) -> ResponseBodies:
        key = model or default
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= _MAX_MODELS:
                key = default
            found = self._cache.get(key) or build_bodies(key, self._pacing.events)
            self._cache[key] = found
        return found


class _Stream:
    """One paced SSE response: writes its next event each time its timer fires."""

    __slots__ = ("_close", "_conn", "_events", "_handle", "_index", "_interval")

    def __init__(self, conn: _Connection, events: list[bytes], interval: float, close: bool) -> None:
        self._conn = conn
        self._events = events
        self._interval = interval
        self._close = close
        self._index = 0
        self._handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop, head: bytes) -> None:
        self._conn.transport.write(head + self._events[0])
        self._index = 1
        self._next(loop)

    def _next(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._interval <= 0:
            self._conn.transport.write(b"".join(self._events[self._index :]))
            self._index = len(self._events)
        if self._index >= len(self._events):
            self._conn.stream_done(self._close)
            return
        self._handle = loop.call_later(self._interval, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = None
        self._conn.transport.write(self._events[self._index])
        self._index += 1
        self._next(loop)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _Connection(asyncio.Protocol):
    """One client connection: parse requests with httptools, answer from precomputed bytes."""

    def __init__(self, server: MockServer) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._body = bytearray()
        self._stream: _Stream | None = None
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(_BAD_REQUEST)
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._body = bytearray()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        keep_alive = self._parser.should_keep_alive()
        method = self._parser.get_method()
        path = self._url.split(b"?", 1)[0]
        self._server.respond(self, method, path, bytes(self._body), keep_alive)

    def reply(self, data: bytes, keep_alive: bool) -> None:
        self.transport.write(data)
        if not keep_alive:
            self.transport.close()

    def start_stream(self, events: list[bytes], close: bool) -> None:
        stream = _Stream(self, events, self._server.pacing.interval_s, close)
        self._stream = stream
        stream.start(self._server.loop, _SSE_HEAD)

    def stream_done(self, close: bool) -> None:
        self._stream = None
        if close:
            self.transport.close()


class MockServer:
    """Routes parsed requests to precomputed responses; one per process."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pacing: Pacing) -> None:
        self.loop = loop
        self.pacing = pacing
        self._responses = _Responses(pacing)
        self._decoder = msgspec.json.Decoder(RequestBody)

    def respond(self, conn: _Connection, method: bytes, path: bytes, body: bytes, keep_alive: bool) -> None:
        if method == b"GET":
            conn.reply(_OK, keep_alive)
            return
        if path.endswith(b"/chat/completions"):
            dialect, default = "openai", "gpt-4o-mini"
        elif path.endswith(b"/messages"):
            dialect, default = "anthropic", "claude-haiku-4-5"
        else:
            conn.reply(_NOT_FOUND, keep_alive)
            return
        try:
            request = self._decoder.decode(body)
        except msgspec.DecodeError:
            conn.reply(_BAD_REQUEST, False)
            return
        bodies = self._responses.bodies(request.model, default)
        if not request.stream:
            payload = bodies.openai_json if dialect == "openai" else bodies.anthropic_json
            conn.reply(_JSON_HEAD % len(payload) + payload, keep_alive)
            return
        if dialect == "openai":
            usage = request.stream_options is not None and request.stream_options.include_usage
            events = bodies.openai_sse_usage if usage else bodies.openai_sse
        else:
            events = bodies.anthropic_sse
        conn.start_stream(events, not keep_alive)


async def serve(host: str, port: int, pacing: Pacing) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    server = MockServer(loop, pacing)
    listener = await loop.create_server(lambda: _Connection(server), host, port, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"mock upstream listening on http://{host}:{port}", flush=True)
    await stop.wait()
    listener.close()


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop when it is installed (it is a runtime pin), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, default=10, help="content events per streamed response")
    parser.add_argument("--interval-ms", type=float, default=5.0, help="gap between streamed events")
    args = parser.parse_args()
    if args.events < 1:
        parser.error("--events must be at least 1")
    run_event_loop(serve(args.host, args.port, Pacing(args.events, args.interval_ms / 1000.0)))


if __name__ == "__main__":
    main()
