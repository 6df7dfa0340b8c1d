"""``POST /v1/responses`` (OpenAI Responses API) and ``GET``/``DELETE /v1/responses/{id}``.

A Responses request is translated into the Chat Completions dialect and then takes the
same admission, budget, forwarding and settlement path as ``/v1/chat/completions`` (so
usage rows, cost, budgets, AUTO routing decisions and conversations behave the same);
the answer is turned back into a ``response`` object or the typed Responses event stream.
Anthropic models get there through the existing Chat Completions -> Messages translation.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Litestar, Request, asgi, delete, get
from litestar.params import FromPath
from litestar.types import Receive, Scope, Send

from gateway.auth.principal import Principal
from gateway.dialects import RequestValidationError, decode_body
from gateway.dialects.openai_types import parse_openai_request
from gateway.dialects.sse import SSEParser
from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.http.errors import as_gateway_error
from gateway.http.proxy_routes import _JSON, _READ_HEADERS, _body, _read_body, _send_error, _start, _stream
from gateway.providers.base import EndpointProvider
from gateway.proxy.admit import admit, authenticate
from gateway.proxy.context import RequestContext
from gateway.proxy.forward import Forwarded, forward, upstream_body
from gateway.proxy.responses_native import call_native, native_body, relay_native, whole_native
from gateway.services import Services
from gateway.store.responses import ResponseStore
from gateway.translate.requests import last_user_text
from gateway.translate.responses_output import (
    ResponsesStream,
    chat_to_response,
    created_now,
    new_response_id,
    response_shell,
)
from gateway.translate.responses_request import response_items_from_input, responses_to_chat

log = logging.getLogger(__name__)
_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


class _Plan(msgspec.Struct):
    """What one Responses request needs after its answer: where to store it, and the chain."""

    raw: dict[str, Any]
    response_id: str
    store: bool
    items: list[dict[str, Any]]  # the chain so far plus this request's input items
    history: list[dict[str, Any]]  # the chain so far (items of previous_response_id)
    dropped_tools: list[str] = msgspec.field(default_factory=list)  # hosted tools left out in translation


async def _history(services: Services, principal: Principal, raw: dict[str, Any]) -> list[dict[str, Any]]:
    previous = raw.get("previous_response_id")
    if previous is None:
        return []
    if not isinstance(previous, str) or not previous:
        raise InvalidRequest("previous_response_id: must be a response id", param="previous_response_id")
    stored = await ResponseStore(services.pool).get(principal, previous)
    if stored is None:
        raise NotFound(
            f"previous_response_id: response '{previous}' was not found (it must be one of yours, stored "
            "with store: true)",
            code="response_not_found",
            param="previous_response_id",
        )
    return stored.items


async def _save(services: Services, ctx: RequestContext, plan: _Plan, response: dict[str, Any]) -> None:
    if not plan.store or response.get("status") == "failed":
        return
    await ResponseStore(services.pool).save(
        ctx.principal,
        request_id=ctx.request_id,
        model=ctx.entry.id,
        items=[*plan.items, *response.get("output", [])],
        response=response,
    )


async def _translated_stream(
    services: Services, ctx: RequestContext, plan: _Plan, frames: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    """Chat Completions frames from ``forward`` in, Responses event frames out."""
    stream = ResponsesStream(response_shell(plan.raw, plan.response_id, ctx.entry.id, created_now()))
    parser = SSEParser()
    yield stream.start()
    try:
        async for frame in frames:
            out: list[bytes] = []
            for ev in parser.feed(frame):
                if ev.data == b"[DONE]":
                    continue
                chunk = _dec.decode(ev.data)
                error = chunk.get("error") if isinstance(chunk, dict) else None
                if error:
                    out.append(stream.error(str(error.get("message") or "upstream error"), error.get("code")))
                elif isinstance(chunk, dict):
                    out.append(stream.feed(chunk))
            if out:
                yield b"".join(out)
        if not stream.failed:
            tail = stream.finish()
            # Stored before the client hears "completed", so a GET right after it finds the response.
            await _save(services, ctx, plan, stream.response)
            yield tail
    finally:
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            await aclose()


def _native(ctx: RequestContext) -> bool:
    """Whether the serving provider takes the Responses body itself (OpenAI's own API)."""
    return bool(getattr(ctx.provider, "responses_api", False)) and isinstance(ctx.provider, EndpointProvider)


def _headers(ctx: RequestContext, plan: _Plan) -> dict[str, str]:
    headers = ctx.response_headers()
    if plan.dropped_tools:
        # Hosted tools have no equivalent off OpenAI's service: say which were left out.
        headers["x-gateway-dropped-tools"] = ",".join(sorted(set(plan.dropped_tools)))
    return headers


async def _admitted(
    services: Services, scope: Scope, receive: Receive, request_id: str, started: float
) -> tuple[RequestContext, _Plan, dict[str, Any], Any, list[dict[str, Any]]]:
    """Authenticate, translate and admit: the context, the plan, and the Chat Completions view."""
    headers = {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in _READ_HEADERS}
    principal = await authenticate(services, headers)
    body = await _read_body(receive, headers, services.settings.max_body_bytes)
    try:
        raw = decode_body(body)
        history = await _history(services, principal, raw)
        # The lenient view admits and routes; a Chat Completions upstream gets the strict one below.
        chat_raw, req = parse_openai_request(_enc.encode(responses_to_chat(raw, history, strict=False)))
        items = [*history, *response_items_from_input(raw.get("input"))]
    except RequestValidationError as exc:
        raise InvalidRequest(exc.message, param=exc.param) from None
    plan = _Plan(
        raw=raw,
        response_id=new_response_id(),
        store=raw.get("store", True) is not False,
        items=items,
        history=history,
    )
    ctx = await admit(services, principal, "openai", chat_raw, req, request_id=request_id, started=started)
    if not _native(ctx):
        dropped: list[str] = []
        try:
            chat_raw, req = parse_openai_request(_enc.encode(responses_to_chat(raw, history, dropped_tools=dropped)))
        except RequestValidationError as exc:
            raise InvalidRequest(exc.message, param=exc.param) from None
        plan.dropped_tools = dropped
    ctx.endpoint = "responses"
    ctx.include_usage = True  # the usage chunk feeds response.completed
    conversation = headers.get("x-conversation-id")
    if conversation is not None:
        ctx.user_text = last_user_text(req)
        ctx.conversation_id = await services.conversations.resolve(conversation, principal, ctx.entry.id, ctx.user_text)
    await services.budget.admit(ctx)
    return ctx, plan, chat_raw, req, history


async def _answer(
    services: Services, ctx: RequestContext, plan: _Plan, chat_raw: dict[str, Any], req: Any
) -> Forwarded:
    """Call the provider: natively when it has a Responses API, else through Chat Completions."""
    provider = ctx.provider
    if _native(ctx) and isinstance(provider, EndpointProvider):
        upstream = await call_native(services, ctx, provider, native_body(ctx, plan.raw, plan.history))
        if ctx.stream:

            async def save(response: dict[str, Any]) -> None:
                await _save(services, ctx, plan, response)

            frames = relay_native(services, ctx, upstream, plan.response_id, save)
            return Forwarded(200, ctx.response_headers(), stream=frames)
        response = await whole_native(services, ctx, upstream, plan.response_id)
    else:
        out = await forward(services, ctx, upstream_body(ctx, chat_raw, req))
        if out.stream is not None:
            return Forwarded(200, _headers(ctx, plan), stream=_translated_stream(services, ctx, plan, out.stream))
        assert out.body is not None
        shell = response_shell(plan.raw, plan.response_id, ctx.entry.id, created_now())
        response = chat_to_response(_dec.decode(out.body), shell)
    await _save(services, ctx, plan, response)
    return Forwarded(200, _headers(ctx, plan), body=_enc.encode(response))


async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
    started = time.perf_counter()
    request_id = str(uuid.uuid4())
    path: str = scope["path"]
    services: Services = Litestar.from_scope(scope).state.services
    try:
        if scope.get("method") != "POST":
            err = InvalidRequest(f"{path} accepts POST only", code="method_not_allowed")
            err.status = 405
            raise err
        ctx, plan, chat_raw, req, _ = await _admitted(services, scope, receive, request_id, started)
        out = await _answer(services, ctx, plan, chat_raw, req)
    except Exception as exc:
        gw = as_gateway_error(exc)
        if type(gw) is GatewayError:
            log.exception("unhandled error on %s (request %s)", path, request_id)
        services.metrics.child(services.metrics.requests, "responses", "-", "-", str(gw.status)).inc()
        await _send_error(send, path, gw, request_id)
        return
    if out.stream is not None:
        await _stream(send, receive, out.headers, out.stream)
        return
    assert out.body is not None
    length = [(b"content-length", str(len(out.body)).encode())]
    await send(_start(200, [*_JSON, *length], out.headers))
    await send(_body(out.body))


@asgi("/v1/responses", copy_scope=False)
async def create_response(scope: Scope, receive: Receive, send: Send) -> None:
    """OpenAI Responses API, streamed or not."""
    await _serve(scope, receive, send)


def _not_found(response_id: str) -> NotFound:
    return NotFound(f"response '{response_id}' was not found", code="response_not_found")


@get("/v1/responses/{response_id:str}", summary="A stored response of the caller (Responses API)")
async def get_response(request: Request[Any, Any, Any], response_id: FromPath[str]) -> dict[str, Any]:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    stored = await ResponseStore(services.pool).get(principal, response_id)
    if stored is None:
        raise _not_found(response_id)
    return stored.response


@delete("/v1/responses/{response_id:str}", status_code=200, summary="Delete a stored response of the caller")
async def delete_response(request: Request[Any, Any, Any], response_id: FromPath[str]) -> dict[str, Any]:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    if not await ResponseStore(services.pool).delete(principal, response_id):
        raise _not_found(response_id)
    return {"id": response_id, "object": "response", "deleted": True}


ROUTES = [create_response, get_response, delete_response]
