"""One long-lived, pipelined Redis connection for the rate limiter's request path.

redis-py's asyncio client costs, per command, a pool checkout and release (an
``asyncio.Condition`` each), stream writes and an ``asyncio.timeout`` per reply read. The
limiter sends one prepacked frame per check and reads one reply, so this connection does only
that: a frame is written at once when nothing is in flight, else with the others of its loop
tick in one write; replies are parsed by ``hiredis`` straight from ``data_received`` and
resolve the waiting futures in order. One watchdog timer replaces the per-read timeout: when
replies are owed and none has come for ``timeout_s``, the connection is dropped. Whatever ends
the connection (Redis gone, stalled, a protocol error) fails every owed reply with a ``redis``
``ConnectionError`` or ``TimeoutError`` (what the guard treats as the backend being away); the
next frame reconnects.

What is off the request path (the auth throttle's counter) stays on redis-py.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any

import hiredis
from redis.asyncio.connection import ConnectionPool, SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


def command(*parts: bytes) -> bytes:
    """One RESP command frame."""
    return b"*%d\r\n%b" % (len(parts), b"".join(map(bulk, parts)))


def _reply_error(message: str) -> Exception:
    # The reply errors the limiter acts on: NOSCRIPT (Redis lost its scripts: load them, retry).
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


class _Protocol(asyncio.Protocol):
    __slots__ = ("_pipe",)

    def __init__(self, pipe: RedisPipe) -> None:
        self._pipe = pipe

    def data_received(self, data: bytes) -> None:
        self._pipe._received(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._pipe._lost(self, exc)


class RedisPipe:
    """Sends prepacked command frames on one connection; each ``send`` awaits its reply."""

    def __init__(self, pool: ConnectionPool, timeout_s: float) -> None:
        kw = pool.connection_kwargs
        self._path: str | None = kw.get("path")
        self._host: str = kw.get("host", "localhost")
        self._port = int(kw.get("port", 6379))
        self._ssl: ssl.SSLContext | None = None
        if issubclass(pool.connection_class, SSLConnection):
            self._ssl = pool.connection_class(**kw).ssl_context.get()
        self._timeout = timeout_s
        self._connect_timeout: float = kw.get("socket_connect_timeout") or timeout_s
        handshake: list[bytes] = []
        if kw.get("password"):
            user = kw.get("username")
            auth = (b"AUTH", user.encode(), kw["password"].encode()) if user else (b"AUTH", kw["password"].encode())
            handshake.append(command(*auth))
        if kw.get("db"):
            handshake.append(command(b"SELECT", b"%d" % int(kw["db"])))
        self._handshake = handshake
        self._loop: asyncio.AbstractEventLoop | None = None
        self._protocol: _Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._reader = hiredis.Reader(replyError=_reply_error)
        self._out: list[bytes] = []  # frames not yet written
        self._owed: deque[asyncio.Future[Any] | None] = deque()  # per frame queued or written, in order (None: setup)
        self._write_soon: asyncio.Handle | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._progress = 0.0  # loop time of the last reply, or of the first frame owed after none was

    def send(self, frame: bytes) -> asyncio.Future[Any]:
        """Queue ``frame`` (one RESP command); the future gets its reply (or its error)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        fut = loop.create_future()
        idle = not self._owed
        if idle:
            self._progress = loop.time()
        self._owed.append(fut)
        self._out.append(frame)
        if self._transport is not None:
            if idle:  # nothing in flight: out now (no handle, no wait)
                self._write()
            elif self._write_soon is None:  # else with whatever else comes this loop tick
                self._write_soon = loop.call_soon(self._write)
        elif self._connecting is None:
            self._connecting = loop.create_task(self._connect())
        return fut

    def _write(self) -> None:
        self._write_soon = None
        if not self._out or self._transport is None:
            return
        out, self._out = self._out, []
        self._transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self._watchdog is None:
            assert self._loop is not None
            self._watchdog = self._loop.call_at(self._progress + self._timeout, self._check_stall)

    def _check_stall(self) -> None:
        self._watchdog = None
        if not self._owed or self._transport is None or self._loop is None:
            return
        due = self._progress + self._timeout
        if self._loop.time() >= due:
            self._drop(RedisTimeoutError(f"no reply from redis in {self._timeout} s"))
        else:
            self._watchdog = self._loop.call_at(due, self._check_stall)

    async def _connect(self) -> None:
        assert self._loop is not None
        protocol = _Protocol(self)
        try:
            async with asyncio.timeout(self._connect_timeout):
                if self._path is not None:
                    transport, _ = await self._loop.create_unix_connection(lambda: protocol, self._path)
                else:
                    transport, _ = await self._loop.create_connection(
                        lambda: protocol, self._host, self._port, ssl=self._ssl
                    )
        except (OSError, TimeoutError) as exc:
            where = self._path or f"{self._host}:{self._port}"
            self._fail(RedisConnectionError, f"Error connecting to redis at {where}: {exc!r}")
            return
        except BaseException as exc:  # e.g. cancelled at shutdown: no check may wait forever
            self._fail(RedisConnectionError, f"not connected to redis: {exc!r}")
            raise
        finally:
            self._connecting = None
        # (uvloop's transports are not asyncio.Transport subclasses; they have what is used here.)
        self._protocol, self._transport = protocol, transport
        self._reader = hiredis.Reader(replyError=_reply_error)
        if self._handshake:
            self._out[:0] = self._handshake
            self._owed.extendleft([None] * len(self._handshake))
        self._write()

    def _received(self, protocol: _Protocol, data: bytes) -> None:
        if protocol is not self._protocol:
            return
        assert self._loop is not None
        self._progress = self._loop.time()
        reader, owed = self._reader, self._owed
        reader.feed(data)
        try:
            reply = reader.gets()
            while reply is not False:
                fut = owed.popleft()
                if fut is None:
                    if isinstance(reply, Exception):  # e.g. a wrong password or db: nothing may run
                        self._drop(RedisConnectionError(f"redis refused the connection's setup: {reply}"))
                        return
                elif not fut.done():
                    if isinstance(reply, Exception):
                        fut.set_exception(reply)
                    else:
                        fut.set_result(reply)
                reply = reader.gets()
        except (hiredis.ProtocolError, IndexError) as exc:  # garbage, or a reply nothing asked for
            self._drop(InvalidResponse(f"unexpected data from redis: {exc!r}"))

    def _lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is not self._protocol:
            return
        self._protocol = self._transport = None
        self._fail(RedisConnectionError, f"connection to redis lost: {exc!r}" if exc else "redis closed the connection")

    def _drop(self, error: Exception) -> None:
        """Close the connection now; every owed reply gets an error like ``error``."""
        transport = self._transport
        self._protocol = self._transport = None
        self._fail(type(error), str(error))
        if transport is not None:
            transport.abort()

    def _fail(self, kind: type[Exception], message: str) -> None:
        owed, self._owed, self._out = self._owed, deque(), []
        for fut in owed:
            if fut is not None and not fut.done():
                fut.set_exception(kind(message))

    async def close(self) -> None:
        """Wait for the replies owed (at most the timeout), then close."""
        if self._connecting is not None:
            await asyncio.gather(self._connecting, return_exceptions=True)
        pending = [f for f in self._owed if f is not None]
        if pending:
            await asyncio.wait(pending, timeout=self._timeout)
        if self._write_soon is not None:
            self._write_soon.cancel()
            self._write_soon = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._drop(RedisConnectionError("the rate limiter's redis connection was closed"))
        self._loop = None
