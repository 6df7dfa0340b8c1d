"""``X-Conversation-Id``: check a conversation before admission, create a new one after it.

``X-Conversation-Id: <uuid>`` must name one of the caller's conversations (checked before
admission, so a wrong id costs nothing); ``new`` starts one, created only once the request
is admitted, so a refused request leaves no empty conversation behind. Both need the
database, but only requests that carry the header pay for it, and a conversation once
verified for a user is remembered. The turns are appended later, through the write queue.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from gateway.auth.principal import Principal
from gateway.errors import InvalidRequest, NotFound
from gateway.pipeline.context import ModelCall, RequestContext
from gateway.store.records import ConversationAppend

_OWNER_SQL = """
SELECT COALESCE(user_uuid::text, user_id) FROM conversations WHERE id = %s AND deleted_at IS NULL
"""
_CREATE_SQL = """
INSERT INTO conversations (id, user_id, user_uuid, title, model) VALUES (%s, %s, %s, %s, %s)
"""


class ConversationGate:
    """Ownership checks and creation, with a small cache of verified (conversation, user) pairs."""

    def __init__(self, pool: AsyncConnectionPool[Any], max_cached: int = 100_000) -> None:
        self._pool = pool
        self._verified: set[tuple[str, str]] = set()
        self._max = max_cached

    async def check(self, header: str, principal: Principal) -> str | None:
        """The caller's conversation the header names, or None for ``new`` (see ``create``).

        Raises:
            InvalidRequest: The header is neither a UUID nor ``new``.
            NotFound: No such conversation of the caller's.
        """
        value = header.strip()
        if value.lower() == "new":
            return None
        try:
            conv_id = str(uuid.UUID(value))
        except ValueError:
            raise InvalidRequest(
                "X-Conversation-Id must be a conversation UUID or 'new'", code="invalid_conversation_id"
            ) from None
        if (conv_id, principal.user_id) in self._verified:
            return conv_id
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_OWNER_SQL, (conv_id,))).fetchone()
        # Another user's (or organization's) conversation is indistinguishable from a missing one.
        if row is None or str(row[0]) != principal.user_id:
            raise NotFound(f"conversation {conv_id} was not found", code="conversation_not_found")
        self._remember(conv_id, principal.user_id)
        return conv_id

    async def create(self, principal: Principal, model: str, title: str) -> str:
        """Start a conversation for the caller (``X-Conversation-Id: new``); returns its id."""
        conv_id = str(uuid.uuid4())
        async with self._pool.connection() as conn:
            await conn.execute(_CREATE_SQL, (conv_id, principal.user_id, principal.user_id, _title(title), model))
        self._remember(conv_id, principal.user_id)
        return conv_id

    def _remember(self, conv_id: str, user_id: str) -> None:
        if len(self._verified) >= self._max:
            self._verified.clear()
        self._verified.add((conv_id, user_id))


def _title(text: str) -> str:
    line = " ".join(text.split())[:80]
    return line or "New Conversation"


def turn_append(
    ctx: RequestContext,
    call: ModelCall,
    *,
    reply_text: str,
    thinking: str | None,
    usage: dict[str, Any],
    cost_millicents: int,
) -> ConversationAppend | None:
    """The user turn and the assistant reply, as conversation messages."""
    if ctx.conversation_id is None:
        return None
    now = datetime.now(UTC).isoformat()
    assistant: dict[str, Any] = {
        "id": f"{ctx.request_id}-a",
        "role": "assistant",
        "content": reply_text,
        "timestamp": now,
        "model": call.entry.id,
        "usage": {**usage, "cost_millicents": cost_millicents},
    }
    if thinking:
        assistant["thinking"] = thinking
    user = {
        "id": f"{ctx.request_id}-u",
        "role": "user",
        "content": ctx.parsed.last_user_text(),
        "timestamp": ctx.created_at,
    }
    return ConversationAppend(
        conversation_id=ctx.conversation_id,
        user_id=ctx.principal.user_id,
        messages=[user, assistant],
        model=call.entry.id,
    )
