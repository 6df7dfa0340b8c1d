"""Stored Responses API responses (``store: true``), readable only by their owner.

Only requests that store a response or continue one (``previous_response_id``) touch
this table, once each; a response written here is readable at once, as the API promises,
so the write is awaited rather than queued.
"""

from __future__ import annotations

from typing import Any

import msgspec
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from gateway.auth.principal import Principal

_INSERT = """
INSERT INTO gateway_responses (id, organization_id, user_id, request_id, model, items, response)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
_OWNER = "organization_id = %s AND user_id = %s"
_SELECT = f"SELECT items, response FROM gateway_responses WHERE id = %s AND {_OWNER}"
_DELETE = f"DELETE FROM gateway_responses WHERE id = %s AND {_OWNER}"


class StoredResponse(msgspec.Struct, frozen=True):
    items: list[dict[str, Any]]  # the chain's input and output items, oldest first
    response: dict[str, Any]


class ResponseStore:
    """Save, read and delete stored responses of one caller."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def save(
        self,
        principal: Principal,
        *,
        request_id: str,
        model: str,
        items: list[dict[str, Any]],
        response: dict[str, Any],
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                _INSERT,
                (
                    response["id"],
                    principal.organization_id,
                    principal.user_id,
                    request_id,
                    model,
                    Jsonb(items),
                    Jsonb(response),
                ),
            )

    async def get(self, principal: Principal, response_id: str) -> StoredResponse | None:
        """The caller's response, or None (missing and someone else's read the same)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_SELECT, (response_id, principal.organization_id, principal.user_id))
            row = await cur.fetchone()
        if row is None:
            return None
        return StoredResponse(items=list(row[0]), response=dict(row[1]))

    async def delete(self, principal: Principal, response_id: str) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_DELETE, (response_id, principal.organization_id, principal.user_id))
            return bool(cur.rowcount > 0)
