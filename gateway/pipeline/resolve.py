"""Who is calling, and which model serves the request (explicit, or the AUTO decision).

On the common path none of this touches the database: principals and router
configurations come from caches.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gateway.auth.jwt import looks_like_jwt
from gateway.auth.principal import Principal
from gateway.catalog import AUTO_MODEL
from gateway.config import ModelEntry
from gateway.errors import Forbidden, InvalidRequest, NotFound, Unauthenticated
from gateway.pipeline.context import RequestContext
from gateway.policy.tiers import check_model, pick_auto
from gateway.providers.base import Provider
from gateway.store.records import AuditRecord
from router.scorer import score_conversation
from router.types import Conversation, Message

if TYPE_CHECKING:
    from gateway.services import Services


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The credential from ``Authorization: Bearer`` or ``x-api-key`` (the Anthropic SDK's header)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = headers.get("x-api-key")
    return key.strip() if key else None


async def authenticate(services: Services, headers: Mapping[str, str]) -> Principal:
    token = bearer_token(headers)
    if not token:
        raise Unauthenticated(
            "no credentials: send 'Authorization: Bearer <api key or token>' or 'x-api-key: <api key>'",
            code="missing_credentials",
        )
    if looks_like_jwt(token):
        subject = await services.jwt.subject(token)
        return await services.resolver.from_user_id(subject)
    return await services.resolver.from_api_key(token)


@dataclass(slots=True, frozen=True)
class Resolved:
    """The model a request goes to, and the caller's effective tier for it."""

    entry: ModelEntry
    provider: Provider
    model_tier: str


def _audit_refusal(services: Services, ctx: RequestContext, model: str, exc: Forbidden) -> None:
    """Queue an audit row for a tier refusal (the write queue keeps it off the request path)."""
    services.queue.put(
        AuditRecord(
            id=str(uuid.uuid4()),
            user_id=ctx.principal.user_id,
            event_type="request.refused",
            resource_type="model",
            resource_id=model,
            action=exc.code,
            organization_id=ctx.principal.organization_id,
            metadata={"request_id": ctx.request_id, "message": exc.message},
            created_at=datetime.now(UTC).isoformat(),
        )
    )


# How much of an AUTO prompt is kept for training (routing_decisions.query_text).
KEPT_QUERY_CHARS = 2000
ROUTE_MODES = ("score", "cascade")


def _router_query(services: Services, turns: list[tuple[str, str]]) -> str | None:
    """The last user turn, cut to :data:`KEPT_QUERY_CHARS`, when the router keeps prompts."""
    if not services.config.router.keep_prompts:
        return None
    for role, text in reversed(turns):
        if role == "user":
            return text[:KEPT_QUERY_CHARS]
    return None


def route_mode(services: Services, ctx: RequestContext, configured: str, score: int) -> str:
    """``score`` or ``cascade``: the header over the router config; cascade needs ``[router.cascade]``.

    A request with tools is never drafted: a draft's tool calls cannot be compared or
    safely discarded. ``skip_above`` sends high-scored prompts straight to scoring.
    """
    header = ctx.route_mode_header
    mode = configured
    if header is not None:
        mode = header.strip().lower()
        if mode not in ROUTE_MODES:
            raise InvalidRequest(
                f"X-Gateway-Route-Mode must be score or cascade, got {header!r}",
                code="invalid_route_mode",
                param="X-Gateway-Route-Mode",
            )
    if mode != "cascade":
        return "score"
    cascade = services.config.router.cascade
    if cascade is None:
        if header is not None:
            raise InvalidRequest(
                "cascade mode needs a [router.cascade] section (drafters) in GATEWAY_CONFIG",
                code="cascade_not_configured",
                param="X-Gateway-Route-Mode",
            )
        return "score"  # a stored config asking for cascade on a gateway without drafters
    if ctx.parsed.n_tools or (cascade.skip_above is not None and score > cascade.skip_above):
        return "score"
    return "cascade"


def _catalog_entry(services: Services, model_id: str, where: str) -> ModelEntry:
    entry = services.catalog.get(model_id)
    if entry is None:
        raise NotFound(f"{where} names model '{model_id}', which is not in the catalog", code="model_not_found")
    return entry


async def resolve_model(services: Services, ctx: RequestContext) -> Resolved:
    """The explicit model, or AUTO's choice (recorded on ``ctx``), checked against the tier policy."""
    parsed, principal = ctx.parsed, ctx.principal
    if parsed.model == AUTO_MODEL:
        config = await services.router_store.current(principal.organization_id)
        conv = Conversation(
            messages=tuple(Message(role, text) for role, text in parsed.turns),
            n_tools=parsed.n_tools,
            n_attachments=parsed.n_attachments,
        )
        learned = await services.router_store.learned_for(principal.organization_id, config)
        decision = ctx.decision = (
            learned.decide(conv, config) if learned is not None else score_conversation(conv, config)
        )
        ctx.router_query = _router_query(services, parsed.turns)
        ctx.route_mode = route_mode(services, ctx, config.mode, decision.score)
        provider_name = services.config.router.auto_provider
        if provider_name == "dialect":
            # A codec may name the provider family it belongs to (the Responses API: openai).
            provider_name = getattr(ctx.codec, "auto_provider", ctx.codec.dialect)
        try:
            if ctx.route_mode == "cascade":
                # The first drafter is the request's first call; the strategy adds the others.
                cascade = services.config.router.cascade
                assert cascade is not None  # route_mode checked it
                entry = _catalog_entry(services, cascade.drafters[0], "[router.cascade] drafters")
            else:
                entry, _used, ctx.auto_fell_back = pick_auto(
                    principal, services.catalog, provider_name, decision.complexity
                )
        except Forbidden as exc:
            _audit_refusal(services, ctx, AUTO_MODEL, exc)
            raise
    else:
        found = services.catalog.get(parsed.model)
        if found is None:
            raise NotFound(
                f"model '{parsed.model}' does not exist; GET /v1/models lists the models you may use, or use 'auto'",
                code="model_not_found",
                param="model",
            )
        if found.mode != "chat":
            raise InvalidRequest(
                f"model '{parsed.model}' is an embedding model; send it to POST /v1/embeddings",
                code="model_not_chat",
                param="model",
            )
        entry = found
    return _checked(services, ctx, entry)


def _checked(services: Services, ctx: RequestContext, entry: ModelEntry) -> Resolved:
    try:
        tier = check_model(ctx.principal, entry)
    except Forbidden as exc:
        _audit_refusal(services, ctx, entry.id, exc)
        raise
    provider = services.providers.get(entry.provider)
    if provider is None:
        raise NotFound(f"model '{entry.id}' names provider '{entry.provider}', which is not configured")
    return Resolved(entry, provider, tier)


def resolve_entry(services: Services, ctx: RequestContext, model_id: str, where: str) -> Resolved:
    """A configured model (a cascade's drafter, judge or escalation) for this caller, tier policy applied."""
    return _checked(services, ctx, _catalog_entry(services, model_id, where))


def system_prefix(principal: Principal) -> str:
    """The organization's and the caller's groups' system prompts, in a stable order."""
    if not principal.org.system_prompt and not principal.groups:
        return ""
    parts = [principal.org.system_prompt or ""]
    parts.extend(g.system_prompt or "" for g in principal.groups)
    return "\n\n".join(p.strip() for p in parts if p and p.strip())
