"""``POST /v1/chat/completions`` and ``POST /v1/messages``: the proxy's two doors.

These two are plain ASGI handlers mounted in the litestar app rather than litestar
route handlers: they take bytes in and send bytes (or an SSE stream) out, and skipping
litestar's parameter and response machinery measurably raises throughput on the hot path
(see README, Performance). Their request and response shapes are the providers' own
published APIs, so they are not repeated in the gateway's OpenAPI document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

from litestar import Litestar, asgi
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from gateway.config import Dialect
from gateway.errors import GatewayError, InvalidRequest, PayloadTooLarge, Unauthenticated
from gateway.http.errors import as_gateway_error, error_body
from gateway.proxy.admit import admit, authenticate, parse_request
from gateway.proxy.forward import forward, upstream_body
from gateway.services import Services
from gateway.translate.requests import last_user_text

log = logging.getLogger(__name__)

_JSON = [(b"content-type", b"application/json")]
_READ_HEADERS = frozenset((b"authorization", b"x-api-key", b"content-length", b"x-conversation-id"))
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    announced = headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes (GATEWAY_MAX_BODY_BYTES)")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
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


def _body(data: bytes, more: bool = False) -> HTTPResponseBodyEvent:
    return {"type": "http.response.body", "body": data, "more_body": more}


def _start(status: int, fixed: list[tuple[bytes, bytes]], headers: dict[str, str]) -> HTTPResponseStartEvent:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [*fixed, *((k.encode(), v.encode()) for k, v in headers.items())],
    }


async def _send_error(send: Send, path: str, exc: GatewayError, request_id: str) -> None:
    body = error_body(path, exc)
    length = [(b"content-length", str(len(body)).encode())]
    await send(_start(exc.status, [*_JSON, *length], {**exc.headers, "x-request-id": request_id}))
    await send(_body(body))


async def _stream(send: Send, receive: Receive, headers: dict[str, str], frames: AsyncIterator[bytes]) -> None:
    """Relay frames as they come; stop (and let settlement see a cancel) if the client leaves."""
    await send(_start(200, _SSE, headers))

    async def relay() -> None:
        async for frame in frames:
            await send(_body(frame, more=True))
        await send(_body(b""))

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    relay_task = asyncio.ensure_future(relay())
    watch_task = asyncio.ensure_future(watch())
    try:
        await asyncio.wait((relay_task, watch_task), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch_task.cancel()
        if not relay_task.done():
            relay_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay_task
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            await aclose()


async def _serve(scope: Scope, receive: Receive, send: Send, dialect: Dialect) -> None:
    started = time.perf_counter()
    request_id = str(uuid.uuid4())
    path: str = scope["path"]
    services: Services = Litestar.from_scope(scope).state.services
    endpoint = "chat" if dialect == "openai" else "messages"
    try:
        if scope.get("method") != "POST":
            err = InvalidRequest(f"{path} accepts POST only", code="method_not_allowed")
            err.status = 405
            raise err
        # ASGI header names are lower-case; only the few the proxy reads are decoded.
        headers = {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in _READ_HEADERS}
        client = scope.get("client")
        address = str(client[0]) if client else "-"
        services.auth_throttle.check(address)
        try:
            principal = await authenticate(services, headers)
        except Unauthenticated:
            await services.auth_throttle.failed(address)
            raise
        body = await _read_body(receive, headers, services.settings.max_body_bytes)
        raw, req = parse_request(dialect, body)
        ctx = await admit(services, principal, dialect, raw, req, request_id=request_id, started=started)
        await services.limits.admit(ctx)
        try:
            conversation = headers.get("x-conversation-id")
            if conversation is not None:
                ctx.user_text = last_user_text(req)
                ctx.conversation_id = await services.conversations.resolve(
                    conversation, principal, ctx.entry.id, ctx.user_text
                )
            await services.budget.admit(ctx)
        except BaseException:
            services.limits.settle(ctx, 0)  # refused after the limiter counted it: free its slot
            raise
        out = await forward(services, ctx, upstream_body(ctx, raw, req))
    except Exception as exc:
        gw = as_gateway_error(exc)
        if type(gw) is GatewayError:
            log.exception("unhandled error on %s (request %s)", path, request_id)
        services.metrics.child(services.metrics.requests, endpoint, "-", "-", str(gw.status)).inc()
        await _send_error(send, path, gw, request_id)
        return
    if out.stream is not None:
        await _stream(send, receive, out.headers, out.stream)
        return
    assert out.body is not None
    length = [(b"content-length", str(len(out.body)).encode())]
    await send(_start(out.status, [*_JSON, *length], out.headers))
    await send(_body(out.body))


@asgi("/v1/chat/completions", copy_scope=False)
async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
    """OpenAI Chat Completions, streamed or not."""
    await _serve(scope, receive, send, "openai")


@asgi("/v1/messages", copy_scope=False)
async def messages(scope: Scope, receive: Receive, send: Send) -> None:
    """Anthropic Messages, streamed or not."""
    await _serve(scope, receive, send, "anthropic")
