"""Admission: who is calling, what they asked for, which model serves it, and may they.

Everything here happens before the first upstream byte, and on the common path none of
it touches the database: principals and router configurations come from caches.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from gateway.auth.jwt import looks_like_jwt
from gateway.auth.principal import Principal
from gateway.catalog import AUTO_MODEL
from gateway.config import Dialect
from gateway.dialects import RequestValidationError
from gateway.dialects.anthropic_types import MessagesRequest, parse_anthropic_request
from gateway.dialects.openai_types import ChatCompletionRequest, parse_openai_request
from gateway.errors import Forbidden, InvalidRequest, NotFound, Unauthenticated
from gateway.policy.tiers import check_model, pick_auto
from gateway.proxy.context import RequestContext
from gateway.services import Services
from gateway.store.records import AuditRecord
from gateway.translate.requests import conversation_text_for_router
from router.scorer import score_conversation
from router.types import Conversation, Message

AnyRequest = ChatCompletionRequest | MessagesRequest


def bearer_token(headers: Any) -> str | None:
    """The credential from ``Authorization: Bearer`` or ``x-api-key`` (the Anthropic SDK's header)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return str(token.strip())
    key = headers.get("x-api-key")
    return str(key).strip() if key else None


async def authenticate(services: Services, headers: Any) -> Principal:
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


def parse_request(dialect: Dialect, body: bytes) -> tuple[dict[str, Any], AnyRequest]:
    try:
        if dialect == "openai":
            return parse_openai_request(body)
        return parse_anthropic_request(body)
    except RequestValidationError as exc:
        raise InvalidRequest(exc.message, param=exc.param) from None


def _prompt_chars(turns: list[tuple[str, str]]) -> int:
    return sum(len(t) for _, t in turns)


def _audit_refusal(services: Services, principal: Principal, request_id: str, model: str, exc: Forbidden) -> None:
    """Queue an audit row for a tier refusal (the write queue keeps it off the request path)."""
    services.queue.put(
        AuditRecord(
            id=str(uuid.uuid4()),
            user_id=principal.user_id,
            event_type="request.refused",
            resource_type="model",
            resource_id=model,
            action=exc.code,
            organization_id=principal.organization_id,
            metadata={"request_id": request_id, "message": exc.message},
            created_at=datetime.now(UTC).isoformat(),
        )
    )


async def admit(
    services: Services,
    principal: Principal,
    dialect: Dialect,
    raw: dict[str, Any],
    req: AnyRequest,
    *,
    request_id: str,
    started: float,
) -> RequestContext:
    """Resolve the model (explicit or AUTO) and apply the tier policy."""
    turns, n_tools, n_attachments = conversation_text_for_router(req)
    decision = None
    fell_back = False
    if req.model == AUTO_MODEL:
        config = await services.router_store.current(principal.organization_id)
        conv = Conversation(
            messages=tuple(Message(role, text) for role, text in turns),
            n_tools=n_tools,
            n_attachments=n_attachments,
        )
        decision = score_conversation(conv, config)
        provider_name = services.config.router.auto_provider
        if provider_name == "dialect":
            provider_name = dialect
        try:
            entry, _used, fell_back = pick_auto(principal, services.catalog, provider_name, decision.tier)
        except Forbidden as exc:
            _audit_refusal(services, principal, request_id, AUTO_MODEL, exc)
            raise
    else:
        found = services.catalog.get(req.model)
        if found is None:
            raise NotFound(
                f"model '{req.model}' does not exist; GET /v1/models lists the models you may use, or use 'auto'",
                code="model_not_found",
                param="model",
            )
        if found.mode != "chat":
            raise InvalidRequest(
                f"model '{req.model}' is an embedding model; send it to POST /v1/embeddings",
                code="model_not_chat",
                param="model",
            )
        entry = found
    try:
        tier = check_model(principal, entry)
    except Forbidden as exc:
        _audit_refusal(services, principal, request_id, entry.id, exc)
        raise
    provider = services.providers.get(entry.provider)
    if provider is None:
        raise NotFound(f"model '{entry.id}' names provider '{entry.provider}', which is not configured")
    if isinstance(req, ChatCompletionRequest):
        max_out = req.max_completion_tokens or req.max_tokens or entry.default_max_tokens
        include_usage = req.include_usage
    else:
        max_out = req.max_tokens
        include_usage = False
    return RequestContext(
        request_id=request_id,
        started=started,
        created_at=datetime.now(UTC).isoformat(),
        dialect=dialect,
        endpoint="chat" if dialect == "openai" else "messages",
        principal=principal,
        entry=entry,
        provider=provider,
        tier=tier,
        requested_model=req.model,
        stream=bool(req.stream),
        include_usage=include_usage,
        prompt_chars=_prompt_chars(turns),
        max_output_tokens=int(max_out),
        user_text="",  # filled only when the request is stored in a conversation
        decision=decision,
        auto_fell_back=fell_back,
        conversation_turn=max(1, sum(1 for role, _ in turns if role == "user")),
    )
