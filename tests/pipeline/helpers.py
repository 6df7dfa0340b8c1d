"""Small helpers for proxy tests: reading what the gateway wrote."""

from __future__ import annotations

from typing import Any

import psycopg

USAGE_COLUMNS = (
    "model, provider, tier, status, prompt_tokens, completion_tokens, cache_creation_tokens, "
    "cache_read_tokens, total_tokens, estimated_cost_millicents, usage_estimated, request_type, conversation_id"
)


def usage_rows(db_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(db_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return list(cur.execute(f"SELECT {USAGE_COLUMNS} FROM llm_usage ORDER BY created_at"))


def only_usage_row(db_url: str) -> dict[str, Any]:
    rows = usage_rows(db_url)
    assert len(rows) == 1, rows
    return rows[0]
