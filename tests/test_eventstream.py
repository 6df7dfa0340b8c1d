"""AWS event-stream frames (Bedrock) back to Anthropic SSE, however the bytes are split."""

from __future__ import annotations

import msgspec

from gateway.dialects.sse import SSEParser
from gateway.providers.eventstream import EventStreamDecoder
from tests.support.mock_upstream import anthropic_stream_events, eventstream_chunk, eventstream_frame

USAGE = {"input_tokens": 3, "output_tokens": 2, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def _events(sse: bytes) -> list[tuple[str | None, dict[str, object]]]:
    return [(e.event, msgspec.json.decode(e.data)) for e in SSEParser().feed(sse)]


def test_chunks_become_the_anthropic_events_at_any_split() -> None:
    frames = anthropic_stream_events("Hello there", "claude-x", USAGE)
    wire = b"".join(eventstream_chunk(f) for f in frames)
    expected = _events(b"".join(frames))
    assert expected[0][0] == "message_start"
    for cut in (1, 7, 13, 64, len(wire) - 1):
        decoder = EventStreamDecoder()
        out = decoder.feed(wire[:cut]) + decoder.feed(wire[cut:])
        assert _events(out) == expected, cut


def test_an_exception_frame_is_an_anthropic_error_event() -> None:
    frame = eventstream_frame(
        {":message-type": "exception", ":exception-type": "throttlingException"},
        b'{"message": "Too many requests"}',
    )
    [(kind, body)] = _events(EventStreamDecoder().feed(frame))
    assert kind == "error"
    assert body == {
        "type": "error",
        "error": {"type": "api_error", "message": "throttlingException: Too many requests"},
    }
