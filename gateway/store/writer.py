"""The SQL that lands one batch of records, in one transaction.

Every statement is idempotent, because a batch whose commit acknowledgement was lost is
spooled and replayed: usage rows and routing decisions are keyed by ``request_id``
(``ON CONFLICT DO NOTHING``) and a conversation message is appended only if no message
with its id is there yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from gateway.store.records import AuditRecord, ConversationAppend, DecisionRecord, KeyTouch, Record, UsageRecord

_json = msgspec.json.Encoder()

# One statement per batch, so the rollup and budget triggers on llm_usage fire once per
# batch rather than once per row. The batch travels as one JSON document encoded by
# msgspec (in C) and is unpacked by PostgreSQL: far cheaper on the gateway's core than
# adapting arrays or binding parameters row by row. The LEFT JOIN drops a conversation id
# whose conversation is gone instead of failing the whole batch.
_USAGE_SQL = """
INSERT INTO llm_usage (organization_id, user_id, conversation_id, model, request_type, prompt_tokens,
    completion_tokens, total_tokens, cache_creation_tokens, cache_read_tokens, estimated_cost_millicents,
    created_at, provider, tier, status, usage_estimated, request_id, auto_routed, latency_ms, ttft_ms,
    deployment, attempt_of)
SELECT u.organization_id, u.user_id, c.id, u.model, u.request_type, u.prompt_tokens, u.completion_tokens,
    u.prompt_tokens + u.completion_tokens + u.cache_creation_tokens + u.cache_read_tokens,
    u.cache_creation_tokens, u.cache_read_tokens, u.cost_millicents, u.created_at, u.provider, u.tier,
    u.status, u.usage_estimated, u.request_id, u.auto_routed, u.latency_ms, u.ttft_ms, u.deployment, u.attempt_of
FROM json_to_recordset(%s::json) AS u(organization_id uuid, user_id uuid, conversation_id text, model text,
    request_type text, prompt_tokens int, completion_tokens int, cache_creation_tokens int, cache_read_tokens int,
    cost_millicents int, created_at timestamptz, provider text, tier text, status text, usage_estimated bool,
    request_id uuid, auto_routed bool, latency_ms int, ttft_ms int, deployment text, attempt_of uuid)
LEFT JOIN conversations c ON c.id = u.conversation_id
ON CONFLICT (request_id) WHERE request_id IS NOT NULL DO NOTHING
"""

_DECISION_SQL = """
INSERT INTO routing_decisions (created_at, user_id, organization_id, conversation_id, provider,
    conversation_turn, selected_model, tier, score, confidence, reasoning, query_length, request_succeeded,
    response_tokens, estimated_cost_millicents, request_id, config_version, fallback_from, attempts, query_text)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (request_id) WHERE request_id IS NOT NULL DO NOTHING
"""

_APPEND_SQL = """
UPDATE conversations
SET messages = messages || %s::jsonb, updated_at = NOW()
WHERE id = %s AND NOT (messages @> %s::jsonb)
"""

_TOUCH_SQL = """
UPDATE gateway_api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, %s), %s) WHERE id = %s
"""

_AUDIT_SQL = """
INSERT INTO audit_events (id, user_id, event_type, resource_type, resource_id, action, organization_id, metadata,
    created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, COALESCE(%s::timestamptz, NOW()))
ON CONFLICT (id) DO NOTHING
"""

# Extra per-batch steps other modules register (budget settlement, alerts...). Each gets the
# open connection (inside the batch's transaction) and the batch's usage records.
BatchHook = Callable[[Any, Sequence[UsageRecord]], Awaitable[None]]


def _usage_batch(rows: Sequence[UsageRecord]) -> str:
    """The batch as one JSON array for ``_USAGE_SQL`` (duplicates dropped, in lock order)."""
    unique = {r.request_id: r for r in rows}
    ordered = sorted(unique.values(), key=lambda r: (r.organization_id, r.user_id, r.model, r.created_at))
    return _json.encode(ordered).decode()


def _decision_params(r: DecisionRecord) -> tuple[Any, ...]:
    return (
        r.created_at,
        r.user_id,
        r.organization_id,
        r.conversation_id,
        r.provider,
        r.conversation_turn,
        r.selected_model,
        r.tier,
        r.score,
        r.confidence,
        r.reasoning,
        r.query_length,
        r.request_succeeded,
        r.response_tokens,
        r.estimated_cost_millicents,
        r.request_id,
        r.config_version,
        r.fallback_from,
        r.attempts,
        r.query_text,
    )


def _audit_params(r: AuditRecord) -> tuple[Any, ...]:
    return (
        r.id,
        r.user_id,
        r.event_type,
        r.resource_type,
        r.resource_id,
        r.action,
        r.organization_id,
        _json.encode(r.metadata).decode(),
        r.created_at,
    )


async def write_batch(conn: Any, batch: Sequence[Record], hooks: Sequence[BatchHook] = ()) -> None:
    """Land ``batch`` on ``conn`` in one transaction (the caller commits or rolls back)."""
    usage = [r for r in batch if isinstance(r, UsageRecord)]
    decisions = [r for r in batch if isinstance(r, DecisionRecord)]
    appends = [r for r in batch if isinstance(r, ConversationAppend)]
    audits = [r for r in batch if isinstance(r, AuditRecord)]
    touches: dict[str, str] = {}
    for r in batch:
        if isinstance(r, KeyTouch) and r.used_at > touches.get(r.key_id, ""):
            touches[r.key_id] = r.used_at
    async with conn.cursor() as cur:
        if usage:
            await cur.execute(_USAGE_SQL, (_usage_batch(usage),))
        if decisions:
            await cur.executemany(_DECISION_SQL, [_decision_params(r) for r in decisions])
        for a in appends:
            for message in a.messages:
                # Containment on [{"id": ...}] makes the append idempotent per message.
                probe = _json.encode([{"id": message["id"]}]).decode()
                await cur.execute(_APPEND_SQL, (_json.encode([message]).decode(), a.conversation_id, probe))
        if touches:
            await cur.executemany(_TOUCH_SQL, [(t, t, k) for k, t in sorted(touches.items())])
        if audits:
            await cur.executemany(_AUDIT_SQL, [_audit_params(r) for r in audits])
    for hook in hooks:
        await hook(conn, usage)
