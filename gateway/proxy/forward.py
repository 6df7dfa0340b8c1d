"""Forwarding: build the upstream body, call the provider, relay or translate the answer.

Streams are relayed event by event as they arrive: upstream bytes are split into SSE
events, each event is observed (usage, text) or translated, and whatever is complete is
written to the client at once. Settlement runs exactly once, whether the stream ended,
the provider failed mid-way, or the client went away.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.dialects import upstream_error_message
from gateway.dialects.anthropic_types import MessagesRequest
from gateway.dialects.openai_types import ChatCompletionRequest
from gateway.dialects.sse import OPENAI_DONE, SSEEvent, SSEParser, encode_anthropic_event, encode_openai_chunk
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.providers.upstream import UpstreamResponse
from gateway.proxy.context import RequestContext
from gateway.proxy.settle import settle
from gateway.services import Services
from gateway.translate.requests import anthropic_request_to_openai, openai_request_to_anthropic
from gateway.translate.responses import (
    anthropic_response_to_openai,
    observe_anthropic_response,
    observe_openai_response,
    openai_response_to_anthropic,
)
from gateway.translate.streams import (
    AnthropicStreamObserver,
    AnthropicToOpenAIStream,
    OpenAIStreamObserver,
    OpenAIToAnthropicStream,
)
from gateway.translate.system_prompt import prepend_system_anthropic, prepend_system_openai

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


@dataclass(slots=True)
class Forwarded:
    """What the HTTP edge sends back: a body, or a stream of frames."""

    status: int
    headers: dict[str, str]
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None


def system_prefix(ctx: RequestContext) -> str:
    """The organization's and the caller's groups' system prompts, in a stable order."""
    if not ctx.principal.org.system_prompt and not ctx.principal.groups:
        return ""
    parts = [ctx.principal.org.system_prompt or ""]
    parts.extend(g.system_prompt or "" for g in ctx.principal.groups)
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def upstream_body(ctx: RequestContext, raw: dict[str, Any], req: ChatCompletionRequest | MessagesRequest) -> bytes:
    """The request in the provider's dialect, with the gateway's system prefix in front."""
    upstream_model = ctx.entry.upstream
    if ctx.provider.dialect == ctx.dialect:
        # Same dialect: pass the client's body through, unknown fields included.
        body = dict(raw)
        body["model"] = upstream_model
        if ctx.dialect == "openai" and ctx.stream:
            # Always ask for usage: a stream without it would be billed by estimate.
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
    elif isinstance(req, ChatCompletionRequest):
        body = openai_request_to_anthropic(req, raw, upstream_model=upstream_model)
    else:
        body = anthropic_request_to_openai(req, raw, upstream_model=upstream_model)
        if ctx.stream:
            body["stream_options"] = {"include_usage": True}
    prefix = system_prefix(ctx)
    if prefix:
        if ctx.provider.dialect == "openai":
            prepend_system_openai(body, prefix)
        else:
            prepend_system_anthropic(body, prefix)
    return _enc.encode(body)


def upstream_failure(provider: str, status: int, body: bytes) -> GatewayError:
    """An upstream error status as the gateway's own error, with the provider's words."""
    said = upstream_error_message(body)
    if status in (400, 422):
        return InvalidRequest(f"the provider refused the request: {said}", code="upstream_invalid_request")
    if status == 413:
        return PayloadTooLarge(f"the provider says the request is too large: {said}")
    if status == 429:
        return RateLimited(f"the provider is rate limiting: {said}", code="upstream_rate_limited")
    if status in (401, 403):
        return UpstreamError(
            f"the provider '{provider}' refused the gateway's credentials ({status}): {said}",
            code="upstream_auth",
        )
    if status in (503, 529):
        return UpstreamUnavailable(f"the provider '{provider}' is overloaded or unavailable: {said}")
    if status == 504:
        return UpstreamTimeout(f"the provider '{provider}' timed out: {said}")
    return UpstreamError(f"the provider '{provider}' failed ({status}): {said}")


async def forward(services: Services, ctx: RequestContext, body: bytes) -> Forwarded:
    provider = ctx.provider
    t0 = time.perf_counter()
    try:
        resp = await provider.send(body)
    except UpstreamError as exc:
        ctx.upstream_wait += time.perf_counter() - t0
        services.metrics.upstream_errors.labels(provider.name, exc.code).inc()
        settle(services, ctx, status="error", upstream_usage=None, http_status=exc.status)
        raise
    if resp.status >= 400:
        try:
            error_body = await resp.read()
        except UpstreamError:
            error_body = b""
        ctx.upstream_wait += time.perf_counter() - t0
        failure = upstream_failure(provider.name, resp.status, error_body)
        services.metrics.upstream_errors.labels(provider.name, f"http_{resp.status}").inc()
        settle(services, ctx, status="error", upstream_usage=None, http_status=failure.status)
        raise failure
    if not ctx.stream:
        return await _whole(services, ctx, resp, t0)
    ctx.upstream_wait += time.perf_counter() - t0
    return Forwarded(200, ctx.response_headers(), stream=_relay(services, ctx, resp))


async def _whole(services: Services, ctx: RequestContext, resp: UpstreamResponse, t0: float) -> Forwarded:
    try:
        data = await resp.read()
    except UpstreamError as exc:
        ctx.upstream_wait += time.perf_counter() - t0
        settle(services, ctx, status="error", upstream_usage=None, http_status=exc.status)
        raise
    ctx.upstream_wait += time.perf_counter() - t0
    try:
        if ctx.provider.dialect == "openai":
            summary = observe_openai_response(data)
        else:
            summary = observe_anthropic_response(data)
        if ctx.translated:
            obj = _dec.decode(data)
            if ctx.dialect == "openai":
                data = _enc.encode(anthropic_response_to_openai(obj, model=ctx.entry.id))
            else:
                data = _enc.encode(openai_response_to_anthropic(obj, model=ctx.entry.id))
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError) as exc:
        settle(services, ctx, status="error", upstream_usage=None, http_status=502)
        raise UpstreamError(f"the provider '{ctx.provider.name}' sent an unreadable response: {exc}") from exc
    ctx.first_byte_at = time.perf_counter()
    settle(
        services,
        ctx,
        status="success",
        upstream_usage=summary.usage,
        reply_text=summary.text,
        thinking=summary.thinking or None,
    )
    return Forwarded(200, ctx.response_headers(), body=data)


def _frame_same_dialect(dialect: str, ev: SSEEvent) -> bytes:
    if dialect == "openai":
        return b"data: " + ev.data + b"\n\n"
    if ev.event:
        return b"event: " + ev.event.encode() + b"\ndata: " + ev.data + b"\n\n"
    return b"data: " + ev.data + b"\n\n"


def _client_error_frame(ctx: RequestContext, exc: GatewayError) -> bytes:
    if ctx.dialect == "openai":
        return encode_openai_chunk({"error": {"message": exc.message, "type": exc.openai_type, "code": exc.code}})
    return encode_anthropic_event(
        "error", {"type": "error", "error": {"type": exc.anthropic_type, "message": exc.message}}
    )


async def _relay(services: Services, ctx: RequestContext, resp: UpstreamResponse) -> AsyncIterator[bytes]:
    parser = SSEParser()
    same = not ctx.translated
    observer: OpenAIStreamObserver | AnthropicStreamObserver | None = None
    translator: AnthropicToOpenAIStream | OpenAIToAnthropicStream | None = None
    if same:
        observer = OpenAIStreamObserver(ctx.include_usage) if ctx.dialect == "openai" else AnthropicStreamObserver()
    elif ctx.dialect == "openai":
        translator = AnthropicToOpenAIStream(
            ctx.entry.id, ctx.include_usage, int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}"
        )
    else:
        translator = OpenAIToAnthropicStream(ctx.entry.id, f"msg_{uuid.uuid4().hex[:24]}")
    recorder = observer if observer is not None else translator
    assert recorder is not None
    status = "success"
    http_status = 200

    def frames(events: list[SSEEvent]) -> bytes:
        out: list[bytes] = []
        if observer is not None:
            for ev in events:
                if observer.observe(ev):
                    out.append(_frame_same_dialect(ctx.dialect, ev))
        else:
            assert translator is not None
            for ev in events:
                out.extend(translator.feed(ev))
        return b"".join(out)

    try:
        t = time.perf_counter()
        async for chunk in resp.chunks():
            now = time.perf_counter()
            ctx.upstream_wait += now - t
            payload = frames(parser.feed(chunk))
            if payload:
                if ctx.first_byte_at is None:
                    ctx.first_byte_at = now
                yield payload
            t = time.perf_counter()
        tail = frames(parser.close())
        if translator is not None:
            tail += b"".join(translator.finish())
        if tail:
            yield tail
        if recorder.error:
            status, http_status = "error", 502
    except UpstreamError as exc:
        status, http_status = "error", exc.status
        services.metrics.upstream_errors.labels(ctx.provider.name, exc.code).inc()
        frame = _client_error_frame(ctx, exc)
        yield frame + (OPENAI_DONE if ctx.dialect == "openai" else b"")
    except (asyncio.CancelledError, GeneratorExit):
        status, http_status = "cancelled", 499
        raise
    finally:
        await resp.close()
        settle(
            services,
            ctx,
            status=status,
            upstream_usage=recorder.usage,
            reply_text=recorder.text,
            thinking=recorder.thinking or None,
            http_status=http_status,
        )
