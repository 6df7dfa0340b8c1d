"""Packed response heads (gateway.http.cycle) write byte for byte what uvicorn writes.

Each case sends one response twice, through uvicorn's own ``RequestResponseCycle`` with plain
ASGI headers and through ``PackedHeadCycle`` with the packed head the proxy doors build, and
compares every byte written to the connection and the cycle's state after (keep-alive,
completion, closing). The transport is a recorder: the cycle's only edge. The doors' use of it
over a real server is covered by the socket tests in test_server_limits.py and by every
end-to-end test (they all run the gateway's protocol).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from gateway.http.cycle import PACKED_BODY, PACKED_HEAD, PACKED_LENGTH, PackedHeadCycle, header_lines, pack_headers

DEFAULTS = [(b"date", b"Mon, 07 Dec 2026 15:00:00 GMT"), (b"server", b"uvicorn")]
RATE = {
    "x-request-id": "0d1f2c3a-1234-4abc-8def-0123456789ab",
    "x-gateway-model": "gpt-5.4-mini",
    "x-ratelimit-limit-requests": "1000",
    "x-ratelimit-remaining-requests": "998",
    "x-ratelimit-reset-requests": "60ms",
    "x-ratelimit-limit-tokens": "100000",
    "x-ratelimit-remaining-tokens": "0",
    "x-ratelimit-reset-tokens": "1.2s",
}
JSON = [(b"content-type", b"application/json")]
SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class Recorder:
    """The connection as the cycle sees it: what was written, and whether it was closed."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def cycle(kind: type[RequestResponseCycle], method: str, keep_alive: bool) -> tuple[RequestResponseCycle, Recorder]:
    transport = Recorder()
    scope: Any = {"type": "http", "method": method, "http_version": "1.1", "path": "/v1/x", "query_string": b""}
    c = kind(
        scope=scope,
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=DEFAULTS,
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )
    if isinstance(c, PackedHeadCycle):
        c.head_prefix = header_lines(DEFAULTS)
    return c, transport


def plain_start(status: int, fixed: list[tuple[bytes, bytes]], headers: dict[str, str], length: int | None) -> Any:
    # content-length last: where the packed head writes it (the only difference in order
    # from the doors' plain path, which sends it second).
    pairs = [*fixed, *((k.encode(), v.encode()) for k, v in headers.items())]
    if length is not None:
        pairs.append((b"content-length", b"%d" % length))
    return {"type": "http.response.start", "status": status, "headers": pairs}


def packed_start(status: int, fixed: list[tuple[bytes, bytes]], headers: dict[str, str], length: int | None) -> Any:
    lines = pack_headers(headers)
    assert lines is not None
    return {
        "type": "http.response.start",
        "status": status,
        PACKED_HEAD: header_lines(fixed) + lines,
        PACKED_LENGTH: length,
    }


def run(
    kind: type[RequestResponseCycle], start: Any, bodies: list[tuple[bytes, bool]], method: str, keep_alive: bool
) -> tuple[bytes, bool, bool, bool]:
    c, transport = cycle(kind, method, keep_alive)

    async def go() -> None:
        await c.send(start)
        for body, more in bodies:
            await c.send({"type": "http.response.body", "body": body, "more_body": more})

    asyncio.run(go())
    return b"".join(transport.written), c.response_complete, c.keep_alive, transport.closed


CASES = {
    "json, kept alive": (200, JSON, RATE, 11, [(b'{"ok": true}'[:11], False)], "POST", True),
    "json, connection ends": (200, JSON, RATE, 11, [(b'{"ok": true}'[:11], False)], "POST", False),
    "json error in two body parts": (
        429,
        JSON,
        {"retry-after": "3"},
        6,
        [(b"abc", True), (b"def", False)],
        "POST",
        True,
    ),
    "stream": (200, SSE, RATE, None, [(b"data: 1\n\n", True), (b"data: 2\n\n", True), (b"", False)], "POST", True),
    "stream ending with data": (
        200,
        SSE,
        {},
        None,
        [(b"data: 1\n\n", True), (b"data: [DONE]\n\n", False)],
        "POST",
        True,
    ),
    "stream, connection ends": (200, SSE, RATE, None, [(b"data: 1\n\n", True), (b"", False)], "POST", False),
    "HEAD": (200, JSON, RATE, 11, [(b"", False)], "HEAD", True),
    "no content": (204, [], {"x-request-id": "r"}, None, [(b"", False)], "POST", True),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_packed_head_writes_what_uvicorn_writes(case: str) -> None:
    status, fixed, headers, length, bodies, method, keep_alive = CASES[case]
    expected = run(RequestResponseCycle, plain_start(status, fixed, headers, length), bodies, method, keep_alive)
    got = run(PackedHeadCycle, packed_start(status, fixed, headers, length), bodies, method, keep_alive)
    assert got == expected
    wire = got[0]
    assert wire.count(b"\r\ndate: ") == 1 and wire.count(b"\r\nserver: ") == 1
    assert (b"connection: close\r\n" in wire) is (not keep_alive)


@pytest.mark.parametrize("keep_alive", [True, False])
@pytest.mark.parametrize("method", ["POST", "HEAD"])
def test_a_whole_answer_in_the_start_message_goes_out_in_one_write(method: str, keep_alive: bool) -> None:
    body = b'{"id": "x", "object": "chat.completion"}'
    expected = run(RequestResponseCycle, plain_start(200, JSON, RATE, len(body)), [(body, False)], method, keep_alive)
    c, transport = cycle(PackedHeadCycle, method, keep_alive)
    start = packed_start(200, JSON, RATE, len(body))
    start[PACKED_BODY] = body
    asyncio.run(c.send(start))
    assert (b"".join(transport.written), c.response_complete, c.keep_alive, transport.closed) == expected
    assert len(transport.written) == 1 and c.response_complete
    with pytest.raises(RuntimeError, match="Unexpected ASGI message"):  # nothing may follow it
        asyncio.run(c.send({"type": "http.response.body", "body": b"", "more_body": False}))


def test_a_whole_answer_of_the_wrong_length_is_refused() -> None:
    for body, message in ((b"abc", "longer"), (b"a", "shorter")):
        c, transport = cycle(PackedHeadCycle, "POST", True)
        start = packed_start(200, JSON, {}, 2)
        start[PACKED_BODY] = body
        with pytest.raises(RuntimeError, match=message):
            asyncio.run(c.send(start))
        assert not transport.written


def test_headers_a_middleware_adds_are_written_too_as_uvicorn_writes_them() -> None:
    extra = [(b"Access-Control-Allow-Origin", b"*")]
    plain = plain_start(200, JSON, RATE, 2)
    plain["headers"] += extra
    packed = packed_start(200, JSON, RATE, 2)
    packed["headers"] = extra
    bodies = [(b"{}", False)]
    expected = run(RequestResponseCycle, plain, bodies, "POST", True)
    got = run(PackedHeadCycle, packed, bodies, "POST", True)
    assert got == expected
    assert b"access-control-allow-origin: *\r\n" in got[0]
    packed[PACKED_BODY] = b"{}"  # a whole answer too: the body follows uvicorn's way
    assert run(PackedHeadCycle, packed, [], "POST", True) == expected


def test_a_plain_start_message_still_goes_through_uvicorn() -> None:
    start = plain_start(200, JSON, RATE, 2)
    bodies = [(b"{}", False)]
    assert run(PackedHeadCycle, start, bodies, "POST", True) == run(RequestResponseCycle, start, bodies, "POST", True)


def test_a_body_longer_or_shorter_than_announced_is_refused_as_uvicorn_refuses_it() -> None:
    for bodies, message in (([(b"abc", False)], "longer"), ([(b"a", False)], "shorter")):
        with pytest.raises(RuntimeError, match=message):
            run(PackedHeadCycle, packed_start(200, JSON, {}, 2), bodies, "POST", True)
        with pytest.raises(RuntimeError, match=message):
            run(RequestResponseCycle, plain_start(200, JSON, {}, 2), bodies, "POST", True)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Request-Id": "r"},  # upper case: uvicorn lower-cases it
        {"x-conversation-id": "a\r\nset-cookie: x=1"},  # a line break in a value
        {"x-conversation-id": "a\x00b"},  # a control character
        {"bad name": "v"},  # not a token
        {"content-length": "5"},  # framing is the cycle's
        {"connection": "close"},
        {"transfer-encoding": "chunked"},
    ],
)
def test_what_cannot_be_packed_is_left_to_uvicorn(headers: dict[str, str]) -> None:
    assert pack_headers(headers) is None


def test_packed_lines_keep_the_order_and_values() -> None:
    assert pack_headers({}) == b""
    assert pack_headers({"x-a": "1", "x-b": "t\tab é"}) == "x-a: 1\r\nx-b: t\tab é\r\n".encode()
