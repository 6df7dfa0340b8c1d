"""The response side of the HTTP/1.1 protocol: uvicorn's request cycle with packed response heads.

uvicorn writes a response head from the ASGI ``headers`` list one header at a time: two
regular-expression searches, a ``lower()`` and a list extend per header (~5k instructions
each under callgrind). A proxy answer carries 6 to 12 headers (12 with the ``x-ratelimit-*``
set), so the head cost more than the gateway's own rate-limit check.

The proxy doors (``gateway.http.proxy_routes``) instead hand this cycle the head's header
lines already written and checked (:func:`pack_headers`: one search over all names, one over
all values), under :data:`PACKED_HEAD` in the ``http.response.start`` message, with the
body's length under :data:`PACKED_LENGTH` (``None``: a stream, sent chunked) and, for a whole
answer, the body itself under :data:`PACKED_BODY`: head and body then go out in one write (one
system call instead of two) and no body message follows. The cycle adds
the status line, the server's default headers (``date``, ``server``; serialised once per
change, i.e. once a second) and ``connection: close`` when the connection ends; everything
else about a response (keep-alive, ``HEAD``, 204/304, the content-length accounting, the
access log, flow control) follows uvicorn's rules. A message without a packed head, or one a
middleware added headers to, goes through uvicorn's own ``send`` unchanged.

The doors pack only where this cycle serves (``gateway.http.protocol.WATCHED`` in the scope);
under any other server they send plain ASGI headers.
"""

from __future__ import annotations

import re
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

# ``http.response.start`` keys this cycle reads (see the module docstring).
PACKED_HEAD = "gateway.head"
PACKED_LENGTH = "gateway.content_length"
PACKED_BODY = "gateway.body"

# A header name this path writes as is: lower-case token characters only (RFC 9110's tchar,
# without upper case, since HTTP/1.1 heads are written in lower case as uvicorn does).
_NAMES = re.compile(r"[0-9a-z!#$%&'*+.^_`|~-]*")
# A value: no control characters but horizontal tab (uvicorn's rule).
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Names the cycle itself decides from (framing); a head that sets one is not packed.
_FRAMING = ("content-length", "transfer-encoding", "connection")


def pack_headers(headers: dict[str, str]) -> bytes | None:
    """``headers`` as header lines (``name: value\\r\\n`` each), or None when they cannot be packed.

    None means a name that is not a lower-case token, a value with a control character, or a
    framing header (``content-length``, ``transfer-encoding``, ``connection``): the caller
    then sends plain ASGI headers and uvicorn decides (refusing what is invalid, as before).
    """
    if not headers:
        return b""
    if _NAMES.fullmatch("".join(headers)) is None or _BAD_VALUE.search("".join(headers.values())):
        return None
    for name in _FRAMING:
        if name in headers:
            return None
    return ("\r\n".join(map(": ".join, headers.items())) + "\r\n").encode()


def header_lines(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """Fixed ASGI header pairs as header lines, unchecked: the server's default headers (checked
    by uvicorn's config) and the doors' constant ones; done once, not per response."""
    return b"".join([name.lower() + b": " + value + b"\r\n" for name, value in pairs])


def _unpacked(block: bytes) -> list[tuple[bytes, bytes]]:
    """Header lines back into ASGI pairs (for the rare message that has both kinds)."""
    pairs: list[tuple[bytes, bytes]] = []
    for line in block.split(b"\r\n"):
        if line:
            name, _, value = line.partition(b": ")
            pairs.append((name, value))
    return pairs


class PackedHeadCycle(RequestResponseCycle):
    """uvicorn's request/response cycle that writes a packed response head in one piece.

    ``head_prefix`` (the default headers' lines) is set by the protocol before the cycle's
    task starts; the protocol turns its cycles into this class (same layout, no new slots).
    """

    head_prefix: bytes

    async def send(self, message: Any) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if self.response_started:
            if self.response_complete or message["type"] != "http.response.body":
                await super().send(message)  # uvicorn's own error for a message out of order
                return
            self._write_body(message.get("body", b""), message.get("more_body", False))
            return
        block = message.get(PACKED_HEAD)
        if block is None or message["type"] != "http.response.start":
            await super().send(message)
            return
        extra = message.get("headers")
        if extra:  # a middleware added ASGI headers: let uvicorn write (and check) them all
            length = message.get(PACKED_LENGTH)
            framing = [] if length is None else [(b"content-length", b"%d" % length)]
            plain: Any = {k: v for k, v in message.items() if k not in (PACKED_HEAD, PACKED_LENGTH, PACKED_BODY)}
            plain["headers"] = [*_unpacked(block), *framing, *extra]
            await super().send(plain)
            if PACKED_BODY in message:
                await super().send({"type": "http.response.body", "body": message[PACKED_BODY], "more_body": False})
            return
        self._write_head(message["status"], block, message.get(PACKED_LENGTH), message.get(PACKED_BODY))

    def _write_head(self, status: int, block: bytes, length: int | None, body: bytes | None) -> None:
        self.response_started = True
        self.waiting_for_100_continue = False
        if self.access_log:
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(self.scope),
                self.scope["method"],
                get_path_with_query_string(self.scope),
                self.scope["http_version"],
                status,
            )
        parts = [STATUS_LINE[status], self.head_prefix, block]
        if length is not None:
            self.expected_content_length = length
            self.chunked_encoding = False
            parts.append(b"content-length: %d\r\n" % length)
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        if length is None and self.scope["method"] != "HEAD" and status not in (204, 304):
            self.chunked_encoding = True
            parts.append(b"transfer-encoding: chunked\r\n")
        parts.append(b"\r\n")
        if body is None:
            self.transport.write(b"".join(parts))
            return
        if length is None:
            raise RuntimeError("a packed body needs its length (gateway.content_length)")
        if self.scope["method"] != "HEAD":
            if len(body) != self.expected_content_length:
                longer = len(body) > self.expected_content_length
                raise RuntimeError(f"Response content {'longer' if longer else 'shorter'} than Content-Length")
            parts.append(body)
        self.expected_content_length = 0
        self.transport.write(b"".join(parts))
        self._complete()

    def _write_body(self, body: bytes, more_body: bool) -> None:
        if self.scope["method"] == "HEAD":
            self.expected_content_length = 0
        elif self.chunked_encoding:
            if body and more_body:
                self.transport.write(b"%x\r\n%b\r\n" % (len(body), body))
            elif body:
                self.transport.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body))
            elif not more_body:
                self.transport.write(b"0\r\n\r\n")
        else:
            if len(body) > self.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_content_length -= len(body)
            self.transport.write(body)
        if not more_body:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self._complete()

    def _complete(self) -> None:
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()
