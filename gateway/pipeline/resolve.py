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
from gateway.errors import Forbidden, NotFound, Unauthenticated
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
        decision = ctx.decision = score_conversation(conv, config)
        provider_name = services.config.router.auto_provider
        if provider_name == "dialect":
            provider_name = ctx.codec.dialect
        try:
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
        entry = found
    try:
        tier = check_model(principal, entry)
    except Forbidden as exc:
        _audit_refusal(services, ctx, entry.id, exc)
        raise
    provider = services.providers.get(entry.provider)
    if provider is None:
        raise NotFound(f"model '{entry.id}' names provider '{entry.provider}', which is not configured")
    return Resolved(entry, provider, tier)


def system_prefix(principal: Principal) -> str:
    """The organization's and the caller's groups' system prompts, in a stable order."""
    if not principal.org.system_prompt and not principal.groups:
        return ""
    parts = [principal.org.system_prompt or ""]
    parts.extend(g.system_prompt or "" for g in principal.groups)
    return "\n\n".join(p.strip() for p in parts if p and p.strip())
