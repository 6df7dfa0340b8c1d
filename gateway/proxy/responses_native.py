"""``POST /v1/responses`` passed to an upstream that speaks the Responses API itself (OpenAI).

The client's body goes upstream nearly as sent (model mapped, the gateway's system prompts
put in front of ``instructions``). The gateway keeps the chain itself: a
``previous_response_id`` is expanded into the stored items before the call and the upstream
is asked not to store (``store: false``), so a chain may move between OpenAI and Anthropic
models and every stored response is in the gateway's database. Usage comes from the final
response object (or the ``response.completed`` event of a stream) and is settled exactly
once, as on the other endpoints.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from gateway.dialects.sse import SSEEvent, SSEParser
from gateway.errors import UpstreamError
from gateway.providers.base import EndpointProvider
from gateway.proxy.context import RequestContext
from gateway.proxy.forward import system_prefix, upstream_failure
from gateway.proxy.settle import settle
from gateway.services import Services

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()
_FINAL = frozenset(("response.completed", "response.incomplete", "response.failed"))

Saver = Callable[[dict[str, Any]], Awaitable[None]]


def native_body(ctx: RequestContext, raw: dict[str, Any], history: list[dict[str, Any]]) -> bytes:
    """The upstream Responses body: the client's, with the chain expanded and the model mapped."""
    body = dict(raw)
    body["model"] = ctx.entry.upstream
    body.pop("previous_response_id", None)
    body["store"] = False
    if history:
        # Reasoning items refer to upstream state that store: false does not keep: leave them out.
        kept = [i for i in history if i.get("type") != "reasoning"]
        current = raw.get("input")
        items = [{"type": "message", "role": "user", "content": current}] if isinstance(current, str) else current
        body["input"] = [*kept, *(items or [])]
    prefix = system_prefix(ctx)
    if prefix:
        body["instructions"] = prefix + ("\n\n" + raw["instructions"] if raw.get("instructions") else "")
    return _enc.encode(body)


def _text_of(response: dict[str, Any]) -> str:
    return "".join(
        str(part.get("text") or "")
        for item in response.get("output") or ()
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or ()
        if isinstance(part, dict) and part.get("type") == "output_text"
    )


async def call_native(services: Services, ctx: RequestContext, provider: EndpointProvider, body: bytes) -> Any:
    """POST to the upstream ``/responses``; failures are settled and raised as gateway errors."""
    t0 = time.perf_counter()
    try:
        resp = await provider.send_to("/responses", body)
    except UpstreamError as exc:
        ctx.upstream_wait += time.perf_counter() - t0
        services.metrics.upstream_errors.labels(provider.name, exc.code).inc()
        settle(services, ctx, status="error", upstream_usage=None, http_status=exc.status)
        raise
    if resp.status >= 400:
        try:
            data = await resp.read()
        except UpstreamError:
            data = b""
        ctx.upstream_wait += time.perf_counter() - t0
        failure = upstream_failure(provider.name, resp.status, data)
        services.metrics.upstream_errors.labels(provider.name, f"http_{resp.status}").inc()
        settle(services, ctx, status="error", upstream_usage=None, http_status=failure.status)
        raise failure
    ctx.upstream_wait += time.perf_counter() - t0
    return resp


async def whole_native(services: Services, ctx: RequestContext, resp: Any, response_id: str) -> dict[str, Any]:
    """Read a whole upstream response, settle it, and return it under the gateway's id."""
    try:
        data = await resp.read()
        obj = _dec.decode(data)
        if not isinstance(obj, dict):
            raise TypeError("not a JSON object")
    except (UpstreamError, msgspec.DecodeError, TypeError) as exc:
        settle(services, ctx, status="error", upstream_usage=None, http_status=502)
        if isinstance(exc, UpstreamError):
            raise
        raise UpstreamError(f"the provider '{ctx.provider.name}' sent an unreadable response: {exc}") from exc
    ctx.first_byte_at = time.perf_counter()
    obj["id"], obj["model"] = response_id, ctx.entry.id
    usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else None
    settle(services, ctx, status="success", upstream_usage=usage, reply_text=_text_of(obj))
    return obj


def _reframe(ev: SSEEvent, obj: dict[str, Any], response_id: str, model: str) -> bytes:
    """The event for the client: only events carrying the response object are re-encoded."""
    response = obj.get("response")
    data = ev.data
    if isinstance(response, dict):
        response["id"], response["model"] = response_id, model
        data = _enc.encode(obj)
    kind = ev.event or str(obj.get("type") or "message")
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


async def relay_native(
    services: Services, ctx: RequestContext, resp: Any, response_id: str, save: Saver
) -> AsyncIterator[bytes]:
    """Relay the upstream event stream, renaming the response to the gateway's id; settle at the end."""
    parser = SSEParser()
    usage: dict[str, Any] | None = None
    text: list[str] = []
    status, http_status = "success", 200
    final: dict[str, Any] | None = None
    try:
        t = time.perf_counter()
        async for chunk in resp.chunks():
            now = time.perf_counter()
            ctx.upstream_wait += now - t
            out: list[bytes] = []
            for ev in parser.feed(chunk):
                obj = _dec.decode(ev.data)
                if not isinstance(obj, dict):
                    continue
                kind = obj.get("type")
                if kind == "response.output_text.delta":
                    text.append(str(obj.get("delta") or ""))
                elif kind in _FINAL:
                    final = obj.get("response") if isinstance(obj.get("response"), dict) else None
                    usage = (final or {}).get("usage") or usage
                    if kind == "response.failed":
                        status, http_status = "error", 502
                    elif final is not None:
                        # Stored before the client hears "completed", so a GET right after finds it.
                        await save({**final, "id": response_id, "model": ctx.entry.id})
                elif kind == "error":
                    status, http_status = "error", 502
                out.append(_reframe(ev, obj, response_id, ctx.entry.id))
            if out:
                if ctx.first_byte_at is None:
                    ctx.first_byte_at = now
                yield b"".join(out)
            t = time.perf_counter()
    except UpstreamError as exc:
        status, http_status = "error", exc.status
        services.metrics.upstream_errors.labels(ctx.provider.name, exc.code).inc()
        payload = {"type": "error", "code": exc.code, "message": exc.message, "param": None}
        yield b"event: error\ndata: " + _enc.encode(payload) + b"\n\n"
    except (asyncio.CancelledError, GeneratorExit):
        status, http_status = "cancelled", 499
        raise
    finally:
        await resp.close()
        settle(services, ctx, status=status, upstream_usage=usage, reply_text="".join(text), http_status=http_status)
