"""AWS event-stream frames (``application/vnd.amazon.eventstream``) as Anthropic SSE events.

Bedrock streams Claude's events inside binary frames: a 12-byte prelude (total length,
headers length, prelude CRC), typed headers (``:message-type``, ``:event-type``), a JSON
payload ``{"bytes": base64(event JSON)}`` and a message CRC. This decoder turns each
``chunk`` frame back into the ``event: <type>`` / ``data: <json>`` frame Anthropic sends, so
everything downstream reads a Bedrock stream like Anthropic's own. Exceptions become an
Anthropic ``error`` event.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping

import msgspec

from gateway.providers.upstream import UpstreamResponse

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()
# Value sizes of the fixed-size header types (0/1 are the booleans, with no value).
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


def _headers(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(raw):
        n = raw[i]
        name = raw[i + 1 : i + 1 + n].decode()
        kind = raw[i + 1 + n]
        i += 2 + n
        if kind in (6, 7):  # bytes, string: 2-byte length
            size = int.from_bytes(raw[i : i + 2], "big")
            value = raw[i + 2 : i + 2 + size]
            if kind == 7:
                out[name] = value.decode()
            i += 2 + size
        else:
            i += _FIXED.get(kind, 0)
    return out


class EventStreamDecoder:
    """Incremental: feed bytes as they come, get SSE frames for every complete message."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out: list[bytes] = []
        while len(self._buf) >= 12:
            total = int.from_bytes(self._buf[0:4], "big")
            if len(self._buf) < total:
                break
            header_len = int.from_bytes(self._buf[4:8], "big")
            headers = _headers(self._buf[12 : 12 + header_len])
            payload = self._buf[12 + header_len : total - 4]
            self._buf = self._buf[total:]
            out.append(self._frame(headers, payload))
        return b"".join(out)

    @staticmethod
    def _frame(headers: dict[str, str], payload: bytes) -> bytes:
        if headers.get(":message-type") == "event" and headers.get(":event-type") == "chunk":
            event = base64.b64decode(_dec.decode(payload)["bytes"])
            kind = _dec.decode(event).get("type", "message")
            return b"event: " + str(kind).encode() + b"\ndata: " + event + b"\n\n"
        if headers.get(":message-type") in ("exception", "error"):
            try:
                message = str(_dec.decode(payload).get("message") or payload.decode(errors="replace"))
            except msgspec.DecodeError:
                message = payload.decode(errors="replace")
            name = headers.get(":exception-type") or headers.get(":error-code") or "error"
            body = {"type": "error", "error": {"type": "api_error", "message": f"{name}: {message}"}}
            return b"event: error\ndata: " + _enc.encode(body) + b"\n\n"
        return b""


class EventStreamAsSSE:
    """An upstream response whose event-stream body reads as Anthropic SSE."""

    def __init__(self, resp: UpstreamResponse) -> None:
        self._resp = resp
        self.status = resp.status
        # What the decoder makes of the body: Anthropic's own event stream.
        self.content_type: str | None = "text/event-stream"
        self._decoder = EventStreamDecoder()

    @property
    def headers(self) -> Mapping[str, str]:
        return {**self._resp.headers, "content-type": "text/event-stream"}

    async def read_chunk(self) -> bytes:
        """The next decoded SSE frames (``b""`` at the end); the decoder keeps partial frames."""
        while True:
            chunk = await self._resp.read_chunk()
            if not chunk:
                return b""
            frames = self._decoder.feed(chunk)
            if frames:
                return frames

    async def read(self) -> bytes:
        return await self._resp.read()

    async def chunks(self) -> AsyncIterator[bytes]:
        decoder = EventStreamDecoder()
        async for chunk in self._resp.chunks():
            frames = decoder.feed(chunk)
            if frames:
                yield frames

    async def close(self) -> None:
        await self._resp.close()
