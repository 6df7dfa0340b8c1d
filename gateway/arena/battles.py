"""Battle rows in ``arena_battles`` (and their slots in ``arena_battle_models``).

A battle moves ``pending`` (admitted, nothing sent yet) -> ``running`` (models answering) ->
``completed`` (at least one model answered; failed slots keep their error) or ``failed``
(every model failed), and ``completed`` -> ``voted`` when its owner votes. Rows are the
caller's own: every read and change filters on the owner, so another user's battle id is
simply not found. Deleting sets ``deleted_at``; deleted battles are not shown or changed,
but their votes still count in the rankings they already moved.

JSON shapes follow the seed reference (camelCase keys): ``models`` is
``[{id, displayName, provider}]``, ``responses`` is ``[{id, modelId, content, thinking?,
metrics?, error?, startedAt, completedAt, durationMs}]`` in slot order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from psycopg.types.json import Jsonb

STATUSES = ("pending", "running", "completed", "failed", "voted")
_enc = msgspec.json.Encoder()

_COLUMNS = (
    "id, prompt, models, responses, settings, status, pinned, user_id, organization_id::text, messages, vote, "
    "judgments, created_at, updated_at"
)


@dataclass(slots=True)
class Battle:
    """One battle as stored."""

    id: str
    prompt: str
    models: list[dict[str, Any]]
    responses: list[dict[str, Any]]
    settings: dict[str, Any]
    status: str
    pinned: bool
    user_id: str
    organization_id: str | None
    messages: list[dict[str, Any]] = field(default_factory=list)
    vote: dict[str, Any] | None = None
    judgments: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(str(m["id"]) for m in self.models)

    @property
    def blind(self) -> bool:
        return bool(self.settings.get("blindMode"))


def _row(r: tuple[Any, ...]) -> Battle:
    return Battle(
        id=r[0],
        prompt=r[1],
        models=list(r[2] or []),
        responses=list(r[3] or []),
        settings=dict(r[4] or {}),
        status=r[5],
        pinned=bool(r[6]),
        user_id=r[7],
        organization_id=r[8],
        messages=list(r[9] or []),
        vote=r[10],
        judgments=list(r[11] or []),
        created_at=r[12],
        updated_at=r[13],
    )


async def insert(conn: Any, b: Battle) -> None:
    """Store a new battle and its slots (one transaction, the caller's)."""
    cur = await conn.execute(
        "INSERT INTO arena_battles (id, prompt, models, responses, settings, status, user_id, user_uuid, "
        "organization_id, messages) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING created_at, updated_at",
        (
            b.id,
            b.prompt,
            Jsonb(b.models),
            Jsonb(b.responses),
            Jsonb(b.settings),
            b.status,
            b.user_id,
            b.user_id,
            b.organization_id,
            Jsonb(b.messages),
        ),
    )
    row = await cur.fetchone()
    b.created_at, b.updated_at = row[0], row[1]
    async with conn.cursor() as models_cur:
        await models_cur.executemany(
            "INSERT INTO arena_battle_models (battle_id, model_id, position) VALUES (%s, %s, %s)",
            [(b.id, m, i) for i, m in enumerate(b.model_ids)],
        )


async def set_status(conn: Any, battle_id: str, status: str) -> None:
    await conn.execute("UPDATE arena_battles SET status = %s, updated_at = NOW() WHERE id = %s", (status, battle_id))


async def finish(conn: Any, battle_id: str, responses: list[dict[str, Any]], status: str) -> None:
    """Store the answers and the final status."""
    await conn.execute(
        "UPDATE arena_battles SET responses = %s, status = %s, updated_at = NOW() WHERE id = %s",
        (Jsonb(responses), status, battle_id),
    )


async def get(conn: Any, battle_id: str, user_id: str, *, lock: bool = False) -> Battle | None:
    """The caller's battle (not deleted), or None; ``lock`` holds its row until the transaction ends."""
    sql = f"SELECT {_COLUMNS} FROM arena_battles WHERE id = %s AND user_id = %s AND deleted_at IS NULL"
    row = await (await conn.execute(sql + (" FOR UPDATE" if lock else ""), (battle_id, user_id))).fetchone()
    return _row(row) if row is not None else None


async def list_own(
    conn: Any, user_id: str, *, status: str | None, pinned: bool | None, limit: int, offset: int
) -> tuple[list[Battle], int]:
    """A page of the caller's battles, newest first, and how many match in all."""
    where = ["user_id = %s", "deleted_at IS NULL"]
    params: list[Any] = [user_id]
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if pinned is not None:
        where.append("pinned = %s")
        params.append(pinned)
    cond = " AND ".join(where)
    total_row = await (await conn.execute(f"SELECT count(*) FROM arena_battles WHERE {cond}", params)).fetchone()
    rows = await (
        await conn.execute(
            f"SELECT {_COLUMNS} FROM arena_battles WHERE {cond} ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
    ).fetchall()
    return [_row(r) for r in rows], int(total_row[0]) if total_row else 0


async def set_pinned(conn: Any, battle_id: str, user_id: str, pinned: bool) -> bool:
    cur = await conn.execute(
        "UPDATE arena_battles SET pinned = %s, updated_at = NOW() "
        "WHERE id = %s AND user_id = %s AND deleted_at IS NULL",
        (pinned, battle_id, user_id),
    )
    return bool(cur.rowcount)


async def soft_delete(conn: Any, battle_id: str, user_id: str) -> bool:
    cur = await conn.execute(
        "UPDATE arena_battles SET deleted_at = NOW(), updated_at = NOW() "
        "WHERE id = %s AND user_id = %s AND deleted_at IS NULL",
        (battle_id, user_id),
    )
    return bool(cur.rowcount)


async def set_vote(conn: Any, battle_id: str, vote: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE arena_battles SET vote = %s, status = 'voted', updated_at = NOW() WHERE id = %s",
        (Jsonb(vote), battle_id),
    )


async def add_judgment(conn: Any, battle_id: str, judgment: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE arena_battles SET judgments = judgments || %s, updated_at = NOW() WHERE id = %s",
        (Jsonb([judgment]), battle_id),
    )


async def organization_votes(conn: Any, organization_id: str) -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """``(models, vote)`` of every voted battle of the organization, deleted ones included."""
    rows = await (
        await conn.execute(
            "SELECT models, vote FROM arena_battles WHERE organization_id = %s AND vote IS NOT NULL",
            (organization_id,),
        )
    ).fetchall()
    return [(list(r[0] or []), dict(r[1])) for r in rows]
