"""Reading what the gateway wrote for one request, for the AUTO-mode tests."""

from __future__ import annotations

from typing import Any

import psycopg

DECISION_COLUMNS = (
    "id",
    "created_at",
    "user_id",
    "organization_id",
    "conversation_id",
    "provider",
    "conversation_turn",
    "selected_model",
    "tier",
    "score",
    "confidence",
    "reasoning",
    "query_length",
    "request_succeeded",
    "response_tokens",
    "estimated_cost_millicents",
    "request_id",
    "config_version",
)
# Columns that may be NULL on a complete row (conversation_id: only with X-Conversation-Id).
NULLABLE = {"conversation_id"}

COMPLEX_PROMPT = (
    "Design a distributed, fault-tolerant event-sourcing architecture for a multi-region payments "
    "platform. Compare consistency models, prove the idempotency of the ledger operations, analyse "
    "failure modes step by step, and provide a migration plan with code for the critical components "
    "in Rust and a formal argument for exactly-once semantics under network partitions."
)
SIMPLE_PROMPT = "hi"


def decision_row(db_url: str, request_id: str) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            f"SELECT {', '.join(f'{c}::text' if c.endswith('id') else c for c in DECISION_COLUMNS)} "
            "FROM routing_decisions WHERE request_id = %s",
            (request_id,),
        ).fetchone()
    assert row is not None, f"no routing_decisions row for request {request_id}"
    return dict(zip(DECISION_COLUMNS, row, strict=True))


def usage_row(db_url: str, request_id: str) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT model, estimated_cost_millicents, completion_tokens, status, auto_routed "
            "FROM llm_usage WHERE request_id = %s",
            (request_id,),
        ).fetchone()
    assert row is not None, f"no llm_usage row for request {request_id}"
    return dict(zip(("model", "cost", "completion_tokens", "status", "auto_routed"), row, strict=True))


def assert_complete(row: dict[str, Any], *, nullable: set[str] = NULLABLE) -> None:
    missing = [c for c in DECISION_COLUMNS if row[c] is None and c not in nullable]
    assert not missing, f"routing_decisions columns left NULL: {missing}"
