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
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gateway.config import ModelEntry
from gateway.errors import GatewayError, InvalidRequest, Unauthenticated
from gateway.http.errors import as_gateway_error
from gateway.pipeline.codecs import Codec, ParsedRequest
from gateway.pipeline.context import REQUEST_TYPES, ModelCall, RequestContext
from gateway.pipeline.door import ClientGone, Door, unless_gone
from gateway.pipeline.resolve import authenticate, resolve_model, system_prefix
from gateway.pipeline.route import route_for
from gateway.pipeline.settlement import Settlement
from gateway.pipeline.strategy import Exchange, Strategy

if TYPE_CHECKING:
    from gateway.services import Services

log = logging.getLogger(__name__)
access = logging.getLogger("gateway.access")


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
    """The strategy for this request (only ``single`` today; cascade and parallel plug in here)."""
    return services.strategies["single"]


async def handle(services: Services, codec: Codec, door: Door) -> None:
    """Serve one request on ``door``; never raises (errors go to the client in its dialect)."""
    started = time.perf_counter()
    request_id = str(uuid.uuid4())
    opened: list[Settlement] = []
    try:
        await _run(services, codec, door, request_id, started, opened)
    except ClientGone:
        pass
    except Exception as exc:
        # Safe: every exception ends here as the client's error (unknown ones logged with
        # their traceback and answered with a 500 that reveals nothing internal).
        gw = as_gateway_error(exc)
        if type(gw) is GatewayError:
            log.exception("unhandled error on %s (request %s)", codec.endpoint, request_id)
        if not (opened and opened[0].calls):
            # No model call was admitted: count the refusal here (settlement counts calls).
            services.metrics.child(services.metrics.requests, codec.endpoint, "-", "-", str(gw.status)).inc()
        await _send_error(codec, door, gw, request_id)
    if services.settings.access_log:
        _access_line(codec, door, request_id, started, opened)


def _access_line(codec: Codec, door: Door, request_id: str, started: float, opened: list[Settlement]) -> None:
    calls = opened[0].calls if opened else []
    status = door.status if door.status is not None else 499  # none sent: the client left first
    access.info(
        "%s status=%s model=%s request_id=%s request_type=%s calls=%d latency_ms=%d",
        codec.endpoint,
        status,
        calls[0].entry.id if calls else "-",
        request_id,
        opened[0].request_type if opened else "-",
        len(calls),
        int((time.perf_counter() - started) * 1000),
    )


async def _send_error(codec: Codec, door: Door, exc: GatewayError, request_id: str) -> None:
    if door.started:
        await door.send(codec.error_frame(exc) + codec.stream_end)
        await door.close_stream()
    else:
        await door.respond(exc.status, {**exc.headers, "x-request-id": request_id}, codec.error_body(exc))


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
        request_type=request_type(headers.get("x-request-type")),
        conversation_header=headers.get("x-conversation-id"),
        conversation_turn=max(1, sum(1 for role, _ in parsed.turns if role == "user")),
    )
    resolved = await resolve_model(services, ctx)
    route = route_for(codec, resolved.provider.dialect)
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
        call.holds = await services.admission.admit(call.policy_request(ctx))
        settlement.track(call)
        if ctx.conversation_header is not None and ctx.conversation_id is None:
            ctx.conversation_id = await services.conversations.create(
                principal, resolved.entry.id, parsed.last_user_text()
            )
        exchange = Exchange(services, ctx, door, settlement, call, upstream_body)
        await unless_gone(door, choose_strategy(services, ctx).run(exchange))
