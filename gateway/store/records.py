"""What the request path hands to the write queue.

Tagged msgspec Structs, so a batch that cannot reach the database is spooled to disk as
JSON lines and decoded back to the same types on replay. New fields always get defaults,
so spool files written by an older build still decode.
"""

from __future__ import annotations

from typing import Any

import msgspec


class BudgetHold(msgspec.Struct, frozen=True, array_like=True):
    """Worst-case cost one request holds on one budget lease, released when its row lands."""

    lease_id: str
    scope: str  # org:<uuid> | user:<uuid> | key:<uuid>
    amount: int


class UsageRecord(msgspec.Struct, tag="usage", frozen=True, kw_only=True):
    request_id: str
    organization_id: str
    user_id: str
    model: str
    provider: str
    tier: str
    created_at: str  # ISO 8601, UTC: when the request arrived
    conversation_id: str | None = None
    request_type: str = "chat"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_millicents: int = 0
    status: str = "success"
    usage_estimated: bool = False
    auto_routed: bool = False
    latency_ms: int | None = None
    ttft_ms: int | None = None
    # Budget reservation to release when this row lands (0 = none).
    reserved_millicents: int = 0
    # The deployment that served (or failed); for a billable failed attempt, the client
    # request's id (this row's request_id is then the attempt's own).
    deployment: str | None = None
    attempt_of: str | None = None
    # Lease holds to release when this row lands (budget leases, issue 11).
    holds: tuple[BudgetHold, ...] = ()
    api_key_id: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens + self.cache_creation_tokens + self.cache_read_tokens


class DecisionRecord(msgspec.Struct, tag="decision", frozen=True, kw_only=True):
    request_id: str
    created_at: str
    user_id: str
    organization_id: str
    provider: str
    selected_model: str
    tier: str
    score: int
    confidence: float
    reasoning: str
    query_length: int
    conversation_turn: int = 1
    conversation_id: str | None = None
    request_succeeded: bool | None = None
    response_tokens: int | None = None
    estimated_cost_millicents: int | None = None
    config_version: int | None = None
    # Set when the model AUTO chose failed and another served (resilience fallback).
    fallback_from: str | None = None
    attempts: int | None = None
    query_text: str | None = None


class ConversationAppend(msgspec.Struct, tag="conversation", frozen=True, kw_only=True):
    conversation_id: str
    user_id: str
    # Message objects as stored in conversations.messages (each has a unique "id").
    messages: list[dict[str, Any]]
    model: str


class KeyTouch(msgspec.Struct, tag="key_touch", frozen=True, kw_only=True):
    key_id: str
    used_at: str


class AuditRecord(msgspec.Struct, tag="audit", frozen=True, kw_only=True):
    """An ``audit_events`` row produced on the request path (e.g. a refused request).

    ``id`` is chosen when the record is made, so a replayed batch inserts it once.
    """

    id: str
    user_id: str
    event_type: str
    resource_type: str
    resource_id: str
    action: str
    organization_id: str | None = None
    metadata: dict[str, Any] = {}
    created_at: str | None = None  # ISO 8601 UTC; None = when written


Record = UsageRecord | DecisionRecord | ConversationAppend | KeyTouch | AuditRecord
