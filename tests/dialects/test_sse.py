"""The SSE parser against the framings real servers and proxies produce."""

from __future__ import annotations

import json

import pytest

from gateway.dialects.sse import (
    OPENAI_DONE,
    SSEEvent,
    SSEParser,
    encode_anthropic_event,
    encode_openai_chunk,
)

STREAM = (
    b": keep-alive comment\n"
    b'event: message_start\ndata: {"a": 1}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b"data: line one\ndata: line two\n\n"
    b"id: 7\nretry: 100\ndata:no-space\n\n"
    b"event: orphan\n\n"
    b'data: {"emoji": "\xf0\x9f\x98\x80"}\n\n'
)
EXPECTED = [
    SSEEvent("message_start", b'{"a": 1}'),
    SSEEvent("ping", b'{"type": "ping"}'),
    SSEEvent(None, b"line one\nline two"),
    SSEEvent(None, b"no-space"),
    SSEEvent(None, '{"emoji": "😀"}'.encode()),
]


def feed_in(pieces: list[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    out = [ev for p in pieces for ev in parser.feed(p)]
    return out + parser.close()


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_whole_stream_any_line_ending(newline: bytes) -> None:
    assert feed_in([STREAM.replace(b"\n", newline)]) == EXPECTED


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_every_split_point(newline: bytes) -> None:
    data = STREAM.replace(b"\n", newline)
    for cut in range(1, len(data)):
        assert feed_in([data[:cut], data[cut:]]) == EXPECTED, cut


def test_byte_by_byte_crlf() -> None:
    data = STREAM.replace(b"\n", b"\r\n")
    assert feed_in([data[i : i + 1] for i in range(len(data))]) == EXPECTED


def test_events_emitted_as_soon_as_complete() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\ndata: b") == [SSEEvent(None, b"a")]
    assert parser.close() == [SSEEvent(None, b"b")]  # body ended without the final blank line


def test_encoders() -> None:
    frame = encode_openai_chunk({"x": [1, "é"]})
    assert frame.startswith(b"data: ")
    assert frame.endswith(b"\n\n")
    (ev,) = SSEParser().feed(frame)
    assert json.loads(ev.data) == {"x": [1, "é"]}
    (ev,) = SSEParser().feed(encode_anthropic_event("message_stop", {"type": "message_stop"}))
    assert ev == SSEEvent("message_stop", b'{"type":"message_stop"}')
    assert SSEParser().feed(OPENAI_DONE) == [SSEEvent(None, b"[DONE]")]
