"""``POST /v1/chat/completions`` and ``POST /v1/messages``: the proxy's two doors."""

from __future__ import annotations

import time
import uuid
from typing import Any

from litestar import Request, Response, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.response import Stream

from gateway.config import Dialect
from gateway.errors import GatewayError, PayloadTooLarge
from gateway.http.errors import error_response
from gateway.proxy.admit import admit, authenticate, parse_request
from gateway.proxy.forward import forward, upstream_body
from gateway.services import Services

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def _proxy(request: Request[Any, Any, Any], dialect: Dialect) -> Response[bytes] | Stream:
    services: Services = request.app.state.services
    started = time.perf_counter()
    request_id = str(uuid.uuid4())
    endpoint = "chat" if dialect == "openai" else "messages"
    try:
        principal = await authenticate(services, request.headers)
        try:
            body = await request.body()
        except RequestEntityTooLarge:
            raise PayloadTooLarge(
                f"the request body is larger than {services.settings.max_body_bytes} bytes (GATEWAY_MAX_BODY_BYTES)"
            ) from None
        raw, req = parse_request(dialect, body)
        ctx = await admit(services, principal, dialect, raw, req, request_id=request_id, started=started)
        ctx.conversation_id = await services.conversations.resolve(
            request.headers.get("x-conversation-id"), principal, ctx.entry.id, ctx.user_text
        )
        await services.budget.admit(ctx)
        out = await forward(services, ctx, upstream_body(ctx, raw, req))
    except GatewayError as exc:
        services.metrics.requests.labels(endpoint, "-", "-", str(exc.status)).inc()
        return error_response(request.url.path, exc, {"x-request-id": request_id})
    if out.stream is not None:
        return Stream(
            out.stream,
            media_type="text/event-stream",
            headers={**_SSE_HEADERS, **out.headers},
            status_code=200,
        )
    assert out.body is not None
    return Response(out.body, media_type="application/json", headers=out.headers, status_code=out.status)


@post("/v1/chat/completions", status_code=200, summary="OpenAI Chat Completions (streamed or not)")
async def chat_completions(request: Request[Any, Any, Any]) -> Response[bytes] | Stream:
    return await _proxy(request, "openai")


@post("/v1/messages", status_code=200, summary="Anthropic Messages (streamed or not)")
async def messages(request: Request[Any, Any, Any]) -> Response[bytes] | Stream:
    return await _proxy(request, "anthropic")
