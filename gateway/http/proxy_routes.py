"""``POST /v1/chat/completions`` and ``POST /v1/messages``: the proxy's two ASGI doors.

A door only moves bytes: it reads the request body, sends a whole response or stream
frames, and reports the client's disconnect; ``gateway.pipeline.handle`` does everything
else. These two are plain ASGI handlers mounted in the litestar app rather than litestar
route handlers: skipping litestar's parameter and response machinery measurably raises
throughput on the hot path (see README, Performance). Their request and response shapes are
the providers' own published APIs, so they are not repeated in the gateway's OpenAPI document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from litestar import Litestar, asgi
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from gateway.errors import InvalidRequest, PayloadTooLarge
from gateway.http.cycle import PACKED_BODY, PACKED_HEAD, PACKED_LENGTH, header_lines, pack_headers
from gateway.http.protocol import CANCEL_TASK, CLIENT_LEFT, WATCHED
from gateway.pipeline.codecs import ANTHROPIC_MESSAGES, CODECS, OPENAI_CHAT, Codec
from gateway.pipeline.handle import handle
from gateway.services import Services

_JSON = (b"content-type", b"application/json")
# Only the headers the pipeline reads are decoded (and those the codecs forward upstream).
_READ_HEADERS = frozenset(
    (
        b"authorization",
        b"x-api-key",
        b"content-length",
        b"x-conversation-id",
        b"x-request-type",
        b"x-gateway-timeout-ms",
        b"x-gateway-route-mode",
    )
) | frozenset(name.encode() for codec in CODECS.values() for name in codec.forwarded_headers)
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
# The same fixed headers as header lines, for this server's packed heads (gateway.http.cycle).
_JSON_LINES = header_lines([_JSON])
_SSE_LINES = header_lines(_SSE)


def _body(data: bytes, more: bool = False) -> HTTPResponseBodyEvent:
    return {"type": "http.response.body", "body": data, "more_body": more}


def _start(status: int, fixed: list[tuple[bytes, bytes]], headers: dict[str, str]) -> HTTPResponseStartEvent:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [*fixed, *((k.encode(), v.encode()) for k, v in headers.items())],
    }


def _packed_start(status: int, lines: bytes, length: int | None, body: bytes | None = None) -> HTTPResponseStartEvent:
    message: Any = {"type": "http.response.start", "status": status, PACKED_HEAD: lines, PACKED_LENGTH: length}
    if body is not None:  # the whole answer in this one message (one write)
        message[PACKED_BODY] = body
    return message  # type: ignore[no-any-return]  # ASGI with this server's extra keys


class AsgiDoor:
    """The pipeline's ``Door`` over one ASGI HTTP connection."""

    __slots__ = ("_packs", "_receive", "_scope", "_send", "client_address", "headers", "started", "status")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        # ASGI header names are lower-case.
        self.headers: Mapping[str, str] = {
            k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in _READ_HEADERS
        }
        self.started = False
        self.status: int | None = None
        # The peer address, for throttling failed authentication (issue 11).
        client = scope.get("client")
        self.client_address: str = str(client[0]) if client else "-"
        # Served by the gateway's own protocol: response heads go packed (gateway.http.cycle).
        self._packs = WATCHED in scope

    async def read_body(self, limit: int) -> bytes:
        announced = self.headers.get("content-length")
        if announced is not None and announced.isdigit() and int(announced) > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes (GATEWAY_MAX_BODY_BYTES)")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise InvalidRequest("the client disconnected before sending the whole body")
            body: bytes = message.get("body", b"")  # type: ignore[assignment]
            if body:
                size += len(body)
                if size > limit:
                    raise PayloadTooLarge(f"the request body is larger than {limit} bytes (GATEWAY_MAX_BODY_BYTES)")
                chunks.append(body)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def respond(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.started, self.status = True, status
        lines = pack_headers(headers) if self._packs else None
        if lines is not None:
            await self._send(_packed_start(status, _JSON_LINES + lines, len(body), body))
        else:
            await self._send(_start(status, [_JSON, (b"content-length", str(len(body)).encode())], headers))
            await self._send(_body(body))

    async def open_stream(self, headers: dict[str, str]) -> None:
        self.started, self.status = True, 200
        lines = pack_headers(headers) if self._packs else None
        if lines is not None:
            await self._send(_packed_start(200, _SSE_LINES + lines, None))
        else:
            await self._send(_start(200, _SSE, headers))

    async def send(self, data: bytes) -> None:
        await self._send(_body(data, more=True))

    async def close_stream(self) -> None:
        await self._send(_body(b""))

    async def disconnected(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass

    def cancels_on_disconnect(self, task: asyncio.Task[Any] | None) -> bool:
        scope: dict[str, Any] = self._scope  # type: ignore[assignment]
        if WATCHED not in scope:
            return False  # another server (a test transport): the pipeline watches instead
        scope[CANCEL_TASK] = task  # read by GuardedHttpToolsProtocol.connection_lost
        return True

    @property
    def client_left(self) -> bool:
        return CLIENT_LEFT in self._scope


async def _method_not_allowed(scope: Scope, receive: Receive, send: Send, codec: Codec) -> None:
    err = InvalidRequest(f"{scope['path']} accepts POST only", code="method_not_allowed")
    err.status = 405
    await AsgiDoor(scope, receive, send).respond(405, {}, codec.error_body(err))


def _services(scope: Scope) -> Services:
    services: Services = Litestar.from_scope(scope).state.services
    return services


# Each door hands its request straight to the pipeline (no coroutine of its own in between).
@asgi("/v1/chat/completions", copy_scope=False)
async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
    """OpenAI Chat Completions, streamed or not."""
    if scope.get("method") != "POST":
        await _method_not_allowed(scope, receive, send, OPENAI_CHAT)
        return
    await handle(_services(scope), OPENAI_CHAT, AsgiDoor(scope, receive, send))


@asgi("/v1/messages", copy_scope=False)
async def messages(scope: Scope, receive: Receive, send: Send) -> None:
    """Anthropic Messages, streamed or not."""
    if scope.get("method") != "POST":
        await _method_not_allowed(scope, receive, send, ANTHROPIC_MESSAGES)
        return
    await handle(_services(scope), ANTHROPIC_MESSAGES, AsgiDoor(scope, receive, send))
