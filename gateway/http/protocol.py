"""The HTTP/1.1 protocol the server runs: uvicorn's httptools protocol with read limits.

uvicorn bounds none of what a client sends before the application sees a request: no
limit on header count or size (httptools buffers a header value until it ends, so one
16 MB value is held whole, and copied as it grows) and no header or body read timeout
(its keep-alive timer only runs *between* requests). :class:`GuardedHttpToolsProtocol`
adds them where the bytes arrive, with nginx's defaults (``Settings``):

* request line longer than ``max_header_line_bytes``: **414**;
* a header line (name and value) longer than ``max_header_line_bytes``, more than
  ``max_header_count`` headers, or a head larger than ``max_header_bytes``: **431**;
* the head not complete ``client_header_timeout_s`` after the connection opened or the
  request's first byte arrived: **408** (an idle connection that sent nothing is closed);
* no body bytes for ``client_body_timeout_s`` while the body is unfinished: **408**.

A refusal is written in the endpoint's error dialect with ``Connection: close``; then the
connection is half-closed and whatever the client still sends is discarded (not parsed,
not buffered) for a short linger, so the client reads the answer instead of a reset.
The 413 for bodies stays with the endpoints (they know their dialect and the limit).

A client that leaves mid-request is noticed here, when the connection is lost: a request
whose door registered its task (``CANCEL_TASK`` in the scope) is cancelled at once.

Hot path: no timer per request. One watchdog timer per connection checks deadlines that
the request path only writes (a ``loop.time()`` per request head and per body read), and
each header costs a length check; nothing is allocated per byte.
"""

from __future__ import annotations

import asyncio
import functools
from asyncio import TimerHandle
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from gateway.errors import GatewayError, HeadersTooLarge, RequestTimeout, UriTooLong
from gateway.http.cycle import PackedHeadCycle, header_lines
from gateway.http.errors import error_body
from gateway.settings import Settings

# Scope keys shared with the proxy door (gateway.http.proxy_routes): the protocol marks every
# request's scope as watched (served by this protocol: it also takes packed response heads,
# gateway.http.cycle); a door that wants its request cancelled when the client leaves
# puts the request's task under CANCEL_TASK; the protocol sets CLIENT_LEFT before cancelling it.
WATCHED = "gateway.watched"
CANCEL_TASK = "gateway.cancel_task"
CLIENT_LEFT = "gateway.client_left"

# How long a refused connection is kept half-open, reading and dropping what the client
# still sends, so its kernel does not turn our answer into a reset (nginx: lingering_close).
_LINGER_S = 2.0


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request the limits refuse."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header size/count limits and read timeouts."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        settings: Settings,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._max_line = settings.max_header_line_bytes
        self._max_head = settings.max_header_bytes
        self._max_count = settings.max_header_count
        self._header_timeout = settings.client_header_timeout_s
        self._body_timeout = settings.client_body_timeout_s
        self._in_head = True  # reading a request head (or waiting for the first one)
        self._head_bytes = 0  # raw bytes received while in the head (an upper bound of its size)
        self._head_deadline = 0.0  # loop time by which the current head must be complete
        self._body_deadline = 0.0  # loop time by which the next body bytes must arrive
        self._watchdog: TimerHandle | None = None
        self._refused = False
        # The server's default headers (date, server) as header lines, for packed heads; the
        # list object is replaced once a second, so its identity says when to serialise anew.
        self._defaults: list[tuple[bytes, bytes]] | None = None
        self._defaults_block = b""

    # -- connection ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Like nginx, the header timeout runs from the connection's start: an idle
        # connection that never sends a request does not stay open.
        self._head_deadline = self.loop.time() + self._header_timeout
        self._watchdog = self.loop.call_at(self._head_deadline, self._watch)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watchdog()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The client left mid-request: a request that asked for it is cancelled at once
            # (no timer or watcher task per request; see gateway.pipeline.door.unless_gone).
            task = cycle.scope.get(CANCEL_TASK)
            if isinstance(task, asyncio.Task) and not task.done():
                cycle.scope[CLIENT_LEFT] = True  # type: ignore[literal-required]
                task.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal: drop, never parse or buffer
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if not self._refused:  # a limit raised _Refused and has answered already
                self.send_400_response("Invalid HTTP request received.")
            return
        # A head still unfinished after this read: everything counted so far is head, so the
        # count is exact enough to stop a single endless header before httptools holds it.
        if self._in_head:
            if self._head_bytes > self._max_head:
                self._refuse(HeadersTooLarge(f"the request headers are larger than {self._max_head} bytes"))
            elif self.headers is not None and len(self.headers) > self._max_count:
                self._refuse(HeadersTooLarge(f"more than {self._max_count} request headers"))
        elif self.cycle is not None and self.cycle.more_body:
            self._body_deadline = self.loop.time() + self._body_timeout  # bytes came: wait anew

    # -- parser callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[WATCHED] = True  # type: ignore[literal-required]  # this server cancels on disconnect
        if not self._in_head:  # a later request on a kept-alive connection: its own deadline
            self._in_head = True
            self._head_deadline = self.loop.time() + self._header_timeout

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self._max_line:
            self._refuse(UriTooLong(f"the request line is longer than {self._max_line} bytes"))
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        # The header count is checked per read and at the head's end (not here), to keep
        # this per-header callback as cheap as uvicorn's own.
        if len(name) + len(value) + 2 > self._max_line:
            shown = name[:64].decode("latin-1")
            self._refuse(HeadersTooLarge(f"request header {shown!r} is longer than {self._max_line} bytes"))
            raise _Refused
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if len(self.headers) > self._max_count:
            self._refuse(HeadersTooLarge(f"more than {self._max_count} request headers"))
            raise _Refused
        self._in_head = False
        self._head_bytes = 0
        self._body_deadline = self.loop.time() + self._body_timeout
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # Every cycle (including a pipelined one, started later) writes packed heads; the
        # subclass adds no slots, so the object only changes class (uvicorn builds the cycle).
        cycle.__class__ = PackedHeadCycle
        defaults = cycle.default_headers
        if defaults is not self._defaults:
            self._defaults, self._defaults_block = defaults, header_lines(defaults)
        cycle.head_prefix = self._defaults_block  # type: ignore[attr-defined]
        super()._start_asgi_task(cycle, app)

    # -- timeouts -----------------------------------------------------------------------
    def _watch(self) -> None:
        """The connection's one timer: refuse a late head or a stalled body, then re-arm."""
        self._watchdog = None
        if self._refused or self.transport.is_closing():
            return
        now = self.loop.time()
        if self._in_head and self._answering_earlier_request():
            # A pipelined head waits behind a response still being sent (a long stream, say):
            # its time starts when that response is done, so the stream is never cut for it.
            self._head_deadline = now + self._header_timeout
            wake = self._head_deadline
        elif self._in_head:
            if now >= self._head_deadline:
                self._head_timed_out()
                return
            wake = self._head_deadline
        elif self.cycle is not None and self.cycle.more_body and not self.cycle.response_complete:
            if self.flow.read_paused:
                # We stopped reading (the application has not consumed what it has): the wait
                # is ours, not the client's, so it does not count.
                self._body_deadline = now + self._body_timeout
            elif now >= self._body_deadline:
                self._refuse(RequestTimeout(f"no request body bytes arrived for {self._body_timeout:g} s"))
                return
            wake = self._body_deadline
        else:
            # Between requests (uvicorn's keep-alive timer closes idle connections) or while the
            # application answers: look again later; a new head sets its deadline from now.
            wake = now + min(self._header_timeout, self._body_timeout)
        self._watchdog = self.loop.call_at(max(wake, now + 0.01), self._watch)

    def _head_timed_out(self) -> None:
        if self._head_bytes == 0 and not self.url_started():
            self.transport.close()  # nothing of a request arrived: nobody to answer
            return
        self._refuse(RequestTimeout(f"the request headers did not arrive within {self._header_timeout:g} s"))

    def _answering_earlier_request(self) -> bool:
        """Whether the current cycle is an earlier request whose response is not finished."""
        return self.cycle is not None and not self.cycle.response_complete and self._in_head

    def url_started(self) -> bool:
        """Whether any of the current request's line has been parsed."""
        return bool(getattr(self, "url", b""))

    # -- refusal ------------------------------------------------------------------------
    def _refuse(self, error: GatewayError) -> None:
        """Answer ``error`` in the endpoint's dialect, stop reading requests, and close soon."""
        if self._refused:
            return
        self._refused = True
        self._stop_watchdog()
        if self.transport.is_closing():
            return
        if self._answering_earlier_request():
            # The refused head is pipelined behind an unfinished response: an answer now would
            # land inside that response, so the connection just ends (abusive clients only).
            self.transport.close()
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The application is waiting on a body that will not come: it sees a disconnect,
            # and anything it still sends is dropped (our answer is the response).
            cycle.disconnected = True
            cycle.message_event.set()
            started = cycle.response_started
        else:
            started = False
        if not started:
            path = self.url.split(b"?", 1)[0].decode("latin-1") if self.url_started() else "/"
            body = error_body(path, error)
            head = [
                STATUS_LINE[error.status],
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
            ]
            self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(_LINGER_S, self._close)
        else:
            self.transport.close()

    def _close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None


def guarded_protocol(settings: Settings) -> Any:
    """The protocol factory to pass as uvicorn's ``http=`` (picklable, for worker processes)."""
    return functools.partial(GuardedHttpToolsProtocol, settings=settings)
