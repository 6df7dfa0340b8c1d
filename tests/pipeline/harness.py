"""Drive the pipeline without a server: a scripted provider at the upstream seam, an in-memory door.

``ScriptedProvider`` plays ``Reply`` objects in order (status, content type, a whole body or
stream chunks, optional pauses) and records what it was sent. ``MemoryDoor`` is the door a
test holds: it collects what the pipeline sends and can "hang up" on demand. The services
are the real ones (``open_services``), on the test's real PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gateway.config import Dialect
from gateway.pipeline.codecs import Codec
from gateway.pipeline.handle import handle
from gateway.providers.upstream import UpstreamResponse
from gateway.services import Services

_enc = msgspec.json.Encoder()


@dataclass
class Reply:
    """One scripted upstream answer."""

    status: int = 200
    body: bytes | None = None  # a whole answer
    chunks: list[bytes] | None = None  # or a stream, chunk by chunk
    content_type: str | None = None
    pause_s: float = 0.0  # before the head (non-stream: before the body too)
    hang: bool = False  # never finish the body (until cancelled)

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Reply:
        return cls(status=status, body=_enc.encode(obj), content_type="application/json")

    @classmethod
    def stream(cls, frames: list[bytes], content_type: str = "text/event-stream") -> Reply:
        return cls(chunks=frames, content_type=content_type)


class _Response:
    def __init__(self, reply: Reply) -> None:
        self._reply = reply
        self.status = reply.status
        self.content_type = reply.content_type
        self.closed = False
        self._pending: deque[bytes] = deque(reply.chunks or [reply.body or b""])

    @property
    def headers(self) -> Mapping[str, str]:
        return {"content-type": self.content_type} if self.content_type else {}

    async def read(self) -> bytes:
        if self._reply.hang:
            await asyncio.Event().wait()
        if self._reply.body is not None:
            return self._reply.body
        return b"".join(self._reply.chunks or [])

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._reply.chunks or [self._reply.body or b""]:
            yield chunk
        if self._reply.hang:
            await asyncio.Event().wait()

    async def read_chunk(self) -> bytes:
        if self._pending:
            return self._pending.popleft()
        if self._reply.hang:
            await asyncio.Event().wait()
        return b""

    async def close(self) -> None:
        self.closed = True


@dataclass
class Sent:
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class ScriptedProvider:
    """A provider whose answers a test scripts (the upstream seam, without a network)."""

    name: str
    dialect: Dialect
    replies: deque[Reply] = field(default_factory=deque)
    sent: list[Sent] = field(default_factory=list)
    responses: list[_Response] = field(default_factory=list)
    cancelled: int = 0
    answered: asyncio.Event = field(default_factory=asyncio.Event)  # set once a response head is out

    async def send(
        self, body: bytes, headers: Mapping[str, str] | None = None, *, first_byte_timeout_s: float | None = None
    ) -> UpstreamResponse:
        self.sent.append(Sent(msgspec.json.decode(body), dict(headers or {})))
        reply = self.replies.popleft()
        try:
            if reply.pause_s:
                await asyncio.sleep(reply.pause_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        resp = _Response(reply)
        self.responses.append(resp)
        self.answered.set()
        return resp


class MemoryDoor:
    """An in-memory ``Door``: what the pipeline sent, and a client that can leave."""

    def __init__(self, body: bytes, headers: Mapping[str, str]) -> None:
        self.headers = {k.lower(): v for k, v in headers.items()}
        self._body = body
        self.started = False
        self.status: int | None = None
        self.response_headers: dict[str, str] = {}
        self.body = b""
        self.frames: list[bytes] = []
        self.closed = False
        self.gone = asyncio.Event()

    async def read_body(self, limit: int) -> bytes:
        return self._body

    async def respond(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.started, self.status, self.response_headers, self.body = True, status, headers, body

    async def open_stream(self, headers: dict[str, str]) -> None:
        self.started, self.status, self.response_headers = True, 200, headers

    async def send(self, data: bytes) -> None:
        self.frames.append(data)

    async def close_stream(self) -> None:
        self.closed = True

    async def disconnected(self) -> None:
        await self.gone.wait()

    def cancels_on_disconnect(self, task: asyncio.Task[Any] | None) -> bool:
        return False  # no server under it: the pipeline's own watch notices the client leave

    @property
    def client_left(self) -> bool:
        return False

    @property
    def streamed(self) -> bytes:
        return b"".join(self.frames)

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


async def run(services: Services, codec: Codec, key: str, body: dict[str, Any], **headers: str) -> MemoryDoor:
    """Serve one request through the pipeline; the door holds the answer."""
    door = MemoryDoor(_enc.encode(body), {"authorization": f"Bearer {key}", **headers})
    await handle(services, codec, door)
    return door
