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

from gateway.config import Dialect, ModelEntry
from gateway.dialects.anthropic_types import MessagesRequest
from gateway.dialects.openai_types import ChatCompletionRequest
from gateway.dialects.sse import OPENAI_DONE, SSEEvent, SSEParser, encode_anthropic_event, encode_openai_chunk
from gateway.errors import GatewayError, UpstreamError, UpstreamTimeout
from gateway.policy.tiers import is_allowed, model_tier
from gateway.providers.upstream import UpstreamResponse
from gateway.proxy.context import RequestContext
from gateway.proxy.settle import settle
from gateway.resilience.attempts import FailedAttempt, Served, run_attempts, upstream_failure
from gateway.resilience.deadlines import Deadline
from gateway.resilience.deployments import Deployment
from gateway.resilience.fallback import fallback_chain
from gateway.resilience.keepalive import keepalive_frame, paced
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


def upstream_body(
    ctx: RequestContext,
    raw: dict[str, Any],
    req: ChatCompletionRequest | MessagesRequest,
    *,
    dialect: Dialect | None = None,
    upstream_model: str | None = None,
) -> bytes:
    """The request in the provider's dialect, with the gateway's system prefix in front.

    ``dialect``/``upstream_model`` default to the context's provider and model; the attempt
    loop passes a deployment's (a fallback may speak the other dialect).
    """
    provider_dialect = dialect or ctx.provider.dialect
    upstream_model = upstream_model or ctx.entry.upstream
    if provider_dialect == ctx.dialect:
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
        if provider_dialect == "openai":
            prepend_system_openai(body, prefix)
        else:
            prepend_system_anthropic(body, prefix)
    return _enc.encode(body)


async def forward(
    services: Services, ctx: RequestContext, raw: dict[str, Any], req: ChatCompletionRequest | MessagesRequest
) -> Forwarded:
    """Call the provider (with retries and fallbacks unless GATEWAY_RESILIENCE=off) and relay."""
    if services.settings.resilience and services.deployments:
        return await forward_resilient(services, ctx, raw, req)
    return await forward_once(services, ctx, upstream_body(ctx, raw, req))


async def forward_once(services: Services, ctx: RequestContext, body: bytes) -> Forwarded:
    """One attempt at the model's provider, no retry (GATEWAY_RESILIENCE=off)."""
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
    return Forwarded(200, ctx.response_headers(), stream=_relay(services, ctx, resp, resp.chunks()))


async def _whole(
    services: Services,
    ctx: RequestContext,
    resp: UpstreamResponse,
    t0: float,
    served: Served | None = None,
    deadline_at: float | None = None,
) -> Forwarded:
    try:
        if deadline_at is None:
            data = await resp.read()
        else:
            try:
                async with asyncio.timeout_at(deadline_at):
                    data = await resp.read()
            except TimeoutError:
                raise UpstreamTimeout(
                    "the request reached its total deadline (GATEWAY_REQUEST_TIMEOUT_S or X-Gateway-Timeout-Ms)"
                ) from None
    except UpstreamError as exc:
        ctx.upstream_wait += time.perf_counter() - t0
        if served is not None:
            served.finish(asyncio.get_running_loop().time(), ok=False)
        settle(services, ctx, status="error", upstream_usage=None, http_status=exc.status)
        raise
    except BaseException:
        if served is not None:
            served.finish(asyncio.get_running_loop().time(), ok=None)
        raise
    if served is not None:
        served.finish(asyncio.get_running_loop().time(), ok=True)
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


async def _relay(
    services: Services,
    ctx: RequestContext,
    resp: UpstreamResponse,
    source: AsyncIterator[bytes],
    served: Served | None = None,
    keepalive: bytes | None = None,
) -> AsyncIterator[bytes]:
    """Relay ``source`` (the upstream's chunks; ``b""`` marks a keep-alive tick) to the client."""
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

    verdict: bool | None = None
    try:
        t = time.perf_counter()
        async for chunk in source:
            now = time.perf_counter()
            ctx.upstream_wait += now - t
            if not chunk:
                if keepalive is not None:
                    yield keepalive
                t = time.perf_counter()
                continue
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
        verdict = not recorder.error
    except UpstreamError as exc:
        status, http_status = "error", exc.status
        verdict = False
        services.metrics.upstream_errors.labels(ctx.provider.name, exc.code).inc()
        frame = _client_error_frame(ctx, exc)
        yield frame + (OPENAI_DONE if ctx.dialect == "openai" else b"")
    except (asyncio.CancelledError, GeneratorExit):
        status, http_status = "cancelled", 499
        raise
    finally:
        await resp.close()
        if served is not None:
            served.finish(asyncio.get_running_loop().time(), ok=verdict)
        settle(
            services,
            ctx,
            status=status,
            upstream_usage=recorder.usage,
            reply_text=recorder.text,
            thinking=recorder.thinking or None,
            http_status=http_status,
        )


async def forward_resilient(
    services: Services, ctx: RequestContext, raw: dict[str, Any], req: ChatCompletionRequest | MessagesRequest
) -> Forwarded:
    """The attempt loop (deployments, retries before the first byte, fallbacks), then the relay."""
    s = services.settings
    loop = asyncio.get_running_loop()
    # The total deadline counts from the request's arrival, not from here.
    total_s = ctx.timeout_s if ctx.timeout_s is not None else s.request_timeout_s
    deadline = Deadline(at=loop.time() - (time.perf_counter() - ctx.started) + total_s)
    principal = ctx.principal
    chain = fallback_chain(
        services.catalog,
        ctx.entry,
        configured=services.config.fallbacks,
        use_defaults=s.default_fallbacks,
        auto_complexity=ctx.entry.complexity if ctx.decision is not None else None,
        allowed=lambda m: m.id in services.deployments and is_allowed(principal, m),
        limit=s.fallback_max_models,
    )
    bodies: dict[tuple[str, str, str], bytes] = {}

    async def send(entry: ModelEntry, dep: Deployment, wait_s: float) -> UpstreamResponse:
        key = (entry.id, dep.provider.dialect, dep.upstream)
        body = bodies.get(key)
        if body is None:
            body = bodies[key] = upstream_body(ctx, raw, req, dialect=dep.provider.dialect, upstream_model=dep.upstream)
        return await dep.provider.send(body, first_byte_timeout_s=wait_s)

    def on_failure(f: FailedAttempt) -> None:
        ctx.failed_attempts.append(f)
        kind = f"http_{f.status}" if f.status is not None else f.error.code
        services.metrics.upstream_errors.labels(f.model.provider, kind).inc()
        services.metrics.child(services.metrics.attempts, f.deployment, f.model.id, kind).inc()

    t0 = time.perf_counter()
    try:
        served = await run_attempts(
            [ctx.entry, *chain],
            services.deployments,
            send,
            policy=services.retry_policy,
            deadline=deadline,
            first_byte_s=s.first_byte_timeout_s,
            stream=ctx.stream,
            clock=loop.time,
            on_failure=on_failure,
        )
    except GatewayError as exc:
        ctx.upstream_wait += time.perf_counter() - t0
        ctx.attempts = max(1, len(ctx.failed_attempts))
        if ctx.failed_attempts:
            ctx.deployment = ctx.failed_attempts[-1].deployment
        exc.extra_headers = {**(exc.extra_headers or {}), **ctx.attempt_headers()}
        settle(services, ctx, status="error", upstream_usage=None, http_status=exc.status)
        raise
    ctx.upstream_wait += time.perf_counter() - t0
    _adopt(services, ctx, served)
    resp = served.response
    if not ctx.stream:
        return await _whole(services, ctx, resp, t0, served, deadline.at)
    source = paced(
        resp.read_chunk,
        idle_s=s.stream_idle_timeout_s,
        keepalive_s=s.keepalive_s,
        deadline_at=deadline.at,
    )
    frames = _relay(services, ctx, resp, source, served, keepalive_frame(ctx.dialect))
    return Forwarded(200, ctx.response_headers(), stream=frames)


def _adopt(services: Services, ctx: RequestContext, served: Served) -> None:
    """From here on the request is the served model's: its provider, dialect route and price."""
    m = services.metrics
    m.child(m.attempts, served.deployment.name, served.model.id, "ok").inc()
    ctx.attempts = served.attempts
    ctx.deployment = served.deployment.name
    if served.model is not ctx.entry:
        ctx.fell_back_from = served.fell_back_from
        ctx.entry = served.model
        ctx.tier = model_tier(ctx.principal, served.model) or served.model.tier
        m.child(m.fallbacks, served.fell_back_from or "-", served.model.id).inc()
    ctx.provider = served.deployment.provider
