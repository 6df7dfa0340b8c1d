"""Server-sent events: an incremental parser for upstream bytes and the two dialects' encoders.

Upstream bodies arrive in arbitrary chunks (an event can be split anywhere, even between
the ``\\r`` and ``\\n`` of a line break), so the parser keeps the unfinished tail and
yields only complete events. It never decodes the JSON payload: the relay decides what to
read. Encoders are built once at import; they hold no state between calls.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "OPENAI_DONE",
    "SSEEvent",
    "SSEParser",
    "encode_anthropic_event",
    "encode_openai_chunk",
]

OPENAI_DONE = b"data: [DONE]\n\n"
_ENCODER = msgspec.json.Encoder()


class SSEEvent(msgspec.Struct, frozen=True, gc=False):
    """One dispatched event: its ``event:`` name (None when absent) and its joined data lines."""

    event: str | None
    data: bytes


class SSEParser:
    """Incremental SSE parser (per the WHATWG event-stream rules the SDKs follow).

    One instance per upstream stream; ``feed`` as bytes arrive. Lines may end in ``\\n``,
    ``\\r\\n`` or ``\\r``; comments (``:``) and ``id``/``retry`` fields are ignored; an
    event is dispatched at a blank line when it has data.
    """

    __slots__ = ("_data", "_event", "_tail")

    def __init__(self) -> None:
        self._tail = b""
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume the next bytes; return the events they complete, in order."""
        buf = self._tail + chunk if self._tail else chunk
        held_cr = buf.endswith(b"\r")
        if held_cr:
            buf = buf[:-1]  # may be the first half of "\r\n": decide when more bytes come
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._tail = lines.pop() + (b"\r" if held_cr else b"")
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(SSEEvent(self._event, b"\n".join(self._data)))
                    self._data = []
                self._event = None
                continue
            if line[0] == 0x3A:  # ":" comment
                continue
            field, sep, value = line.partition(b":")
            if sep and value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                self._data.append(value)
            elif field == b"event":
                self._event = value.decode("utf-8", "replace")
        return events

    def close(self) -> list[SSEEvent]:
        """End of body: dispatch a last event whose closing blank line never came."""
        events = self.feed(b"\n\n") if (self._tail or self._data) else []
        self._tail = b""
        return events


def encode_openai_chunk(obj: Any) -> bytes:
    """One OpenAI stream frame: ``data: {json}`` and a blank line."""
    return b"data: " + _ENCODER.encode(obj) + b"\n\n"


def encode_anthropic_event(type: str, obj: Any) -> bytes:
    """One Anthropic stream frame: ``event: <type>``, ``data: {json}`` and a blank line."""
    return b"event: " + type.encode() + b"\ndata: " + _ENCODER.encode(obj) + b"\n\n"
