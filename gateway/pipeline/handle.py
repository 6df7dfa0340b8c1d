"""The pipeline's one sequence: a client request from bytes to settlement.

::

    authenticate -> read + parse (codec) -> resolve model / AUTO -> route -> upstream body
      -> [settlement opens] admission -> conversation -> strategy -> attempt -> relay
      -> [settlement closes: every call recorded once, every hold released]

Everything that can refuse a request without cost (credentials, a bad body, an unknown or
forbidden model, a body the provider's dialect cannot express, a wrong conversation id)
happens before admission, so a refusal never holds budget. From admission on, the request
runs inside ``Settlement`` and, once the body is read, under a watch of the client: if it
leaves, the work is cancelled and recorded as ``cancelled``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gateway.config import ModelEntry
from gateway.errors import GatewayError, InvalidRequest, Unauthenticated
from gateway.http.errors import as_gateway_error, error_headers
from gateway.observe.logs import request_id as log_request_id
from gateway.observe.request_id import new_request_id
from gateway.observe.tracing import NO_SPAN
from gateway.pipeline.codecs import Codec, ParsedRequest
from gateway.pipeline.context import REQUEST_TYPES, ModelCall, RequestContext
from gateway.pipeline.door import ClientGone, Door, unless_gone
from gateway.pipeline.resolve import Resolved, authenticate, resolve_model, system_prefix
from gateway.pipeline.route import route_for_provider
from gateway.pipeline.settlement import Settlement
from gateway.pipeline.strategy import Exchange, Strategy
from gateway.resilience.deadlines import TIMEOUT_HEADER, total_deadline_s

if TYPE_CHECKING:
    from gateway.services import Services

log = logging.getLogger(__name__)
access_log = logging.getLogger("gateway.access")


def request_type(value: str | None) -> str:
    """``X-Request-Type`` (default ``chat``); anything not listed is a 400."""
    if value is None:
        return "chat"
    kind = value.strip().lower()
    if kind not in REQUEST_TYPES:
        raise InvalidRequest(
            f"X-Request-Type must be one of {', '.join(REQUEST_TYPES)}; got {value!r}",
            code="invalid_request_type",
            param="X-Request-Type",
        )
    return kind


def _request_attributes(ctx: RequestContext, resolved: Resolved) -> dict[str, str | int | float | bool]:
    """The request span's GenAI attributes, once the model is known (only built when tracing)."""
    attrs: dict[str, str | int | float | bool] = {
        "gen_ai.request.model": ctx.parsed.model,
        "gen_ai.response.model": resolved.entry.id,
        "gen_ai.provider.name": resolved.entry.provider,
        "gateway.tier": resolved.model_tier,
        "gateway.organization_id": ctx.principal.organization_id,
    }
    d = ctx.decision
    if d is not None:
        attrs.update({"gateway.auto.complexity": d.complexity, "gateway.auto.score": d.score})
    return attrs


def forwarded(headers: Mapping[str, str], names: frozenset[str]) -> dict[str, str] | None:
    """The client headers in ``names`` (None when the client sent none, the common case)."""
    found = {name: headers[name] for name in names if name in headers}
    return found or None


def output_bound(parsed: ParsedRequest, entry: ModelEntry) -> int:
    """The call's output bound: the client's, at most the model's limit (else a 400)."""
    asked = parsed.max_output_tokens
    if asked is None:
        return min(entry.default_max_tokens, entry.max_output_tokens)
    if asked > entry.max_output_tokens:
        field = parsed.max_output_field
        raise InvalidRequest(
            f"{field}: model '{entry.id}' produces at most {entry.max_output_tokens} output tokens; got {asked}",
            code="max_tokens_too_large",
            param=field,
        )
    return asked


def choose_strategy(services: Services, ctx: RequestContext) -> Strategy:
    """The strategy for this request: ``cascade`` for AUTO requests in cascade mode, else ``single``."""
    if ctx.route_mode == "cascade" and "cascade" in services.strategies:
        return services.strategies["cascade"]
    return services.strategies["single"]


async def handle(services: Services, codec: Codec, door: Door) -> None:
    """Serve one request on ``door``; never raises (errors go to the client in its dialect)."""
    started = time.perf_counter()
    request_id = new_request_id()
    opened: list[Settlement] = []
    # Every log line and span of this request carries its id (contexts pass to child tasks).
    rid_token = log_request_id.set(request_id)
    tracing = services.tracing
    try:
        with (
            tracing.span(
                f"gateway {codec.endpoint}",
                {"gateway.request_id": request_id, "gateway.endpoint": codec.endpoint, "gen_ai.operation.name": "chat"},
            )
            if tracing.enabled
            else NO_SPAN  # tracing off: no span name or attributes built per request
        ):
            try:
                await _run(services, codec, door, request_id, started, opened)
            except ClientGone:
                tracing.annotate({"gateway.status": "cancelled"})
            except Exception as exc:
                # Safe: every exception ends here as the client's error (unknown ones logged with
                # their traceback and answered with a 500 that reveals nothing internal).
                gw = as_gateway_error(exc)
                if type(gw) is GatewayError:
                    log.exception("unhandled error on %s (request %s)", codec.endpoint, request_id)
                if not (opened and opened[0].calls):
                    # No model call was admitted: count the refusal here (settlement counts calls).
                    services.metrics.requests.add((codec.endpoint, "-", "-", str(gw.status)))
                tracing.annotate({"error.type": gw.code, "http.response.status_code": gw.status})
                await _send_error(codec, door, gw, request_id, services.settings.service_retry_after_s)
    finally:
        if services.settings.access_log:
            _access_line(codec, door, request_id, started, opened)
        log_request_id.reset(rid_token)


def _access_line(codec: Codec, door: Door, request_id: str, started: float, opened: list[Settlement]) -> None:
    calls = opened[0].calls if opened else []
    status = door.status if door.status is not None else 499  # none sent: the client left first
    model = calls[0].entry.id if calls else "-"
    rtype = opened[0].request_type if opened else "-"
    latency_ms = int((time.perf_counter() - started) * 1000)
    access_log.info(
        "%s status=%s model=%s request_id=%s request_type=%s calls=%d latency_ms=%d",
        codec.endpoint,
        status,
        model,
        request_id,
        rtype,
        len(calls),
        latency_ms,
        # The same fields as structured attributes, for GATEWAY_LOG_FORMAT=json.
        extra={
            "endpoint": codec.endpoint,
            "status": status,
            "model": model,
            "request_id": request_id,
            "request_type": rtype,
            "calls": len(calls),
            "duration_ms": latency_ms,
        },
    )


async def _send_error(codec: Codec, door: Door, exc: GatewayError, request_id: str, retry_after_s: float) -> None:
    if door.started:
        await door.send(codec.error_frame(exc) + codec.stream_end)
        await door.close_stream()
    else:
        # Retry-After on 429/503 (the provider's, or the gateway's own), X-Gateway-Attempts.
        headers = {"x-request-id": request_id, **error_headers(exc, retry_after_s)}
        await door.respond(exc.status, headers, codec.error_body(exc))


async def _run(
    services: Services, codec: Codec, door: Door, request_id: str, started: float, opened: list[Settlement]
) -> None:
    headers = door.headers
    address = getattr(door, "client_address", "-")
    services.auth_throttle.check(address)
    try:
        principal = await authenticate(services, headers)
    except Unauthenticated:
        await services.auth_throttle.failed(address)
        raise
    body = await door.read_body(services.settings.max_body_bytes)
    parsed = codec.parse(body)
    ctx = RequestContext(
        request_id=request_id,
        started=started,
        created_at=datetime.now(UTC).isoformat(),
        codec=codec,
        principal=principal,
        parsed=parsed,
        request_type=request_type(kind) if (kind := headers.get("x-request-type")) is not None else "chat",
        conversation_header=headers.get("x-conversation-id"),
        route_mode_header=headers.get("x-gateway-route-mode"),
    )
    if services.settings.resilience:
        ctx.timeout_s = total_deadline_s(services.settings.request_timeout_s, headers.get(TIMEOUT_HEADER))
    resolved = await resolve_model(services, ctx)
    if services.tracing.enabled:
        services.tracing.annotate(_request_attributes(ctx, resolved))
    route = route_for_provider(codec, resolved.provider)
    max_out = output_bound(parsed, resolved.entry)
    upstream_body = route.upstream_body(parsed, resolved.entry.upstream, system_prefix(principal))
    if ctx.conversation_header is not None:
        ctx.conversation_id = await services.conversations.check(ctx.conversation_header, principal)
    call = ModelCall(
        request_id=ctx.call_id(),
        entry=resolved.entry,
        provider=resolved.provider,
        route=route,
        model_tier=resolved.model_tier,
        max_output_tokens=int(max_out),
        forward_headers=forwarded(headers, route.provider.forwarded_headers),
    )
    settlement = Settlement(services, ctx)
    opened.append(settlement)
    async with settlement:
        # A refusal here releases what earlier steps took; no usage row for a refused call.
        if services.tracing.enabled:  # (every traced request shows its admission span)
            with services.tracing.span("gateway admission", {"gateway.tier": call.model_tier}):
                call.holds = await services.admission.admit(call.policy_request(ctx))
        elif services.admission.needed(principal):  # else no limit, no hard budget: nothing to hold
            call.holds = await services.admission.admit(call.policy_request(ctx))
        settlement.calls.append(call)  # settlement.track, inline: admitted, no await since
        if ctx.conversation_header is not None and ctx.conversation_id is None:
            ctx.conversation_id = await services.conversations.create(
                principal, resolved.entry.id, parsed.last_user_text()
            )
        exchange = Exchange(services, ctx, door, settlement, call, upstream_body)
        await unless_gone(door, choose_strategy(services, ctx).run(exchange))
