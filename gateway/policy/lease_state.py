"""Budget leases in PostgreSQL: take, renew, give back, reclaim, and release on settlement.

A budget *scope* is ``org:<uuid>`` (counter row in ``gateway_budget_counters``, the one the
alerts and ``GET /v1/budget`` read), ``user:<uuid>`` or ``key:<uuid>`` (rows in
``gateway_budget_scope_counters``). A lease is headroom taken from the scope's counter row:
``take`` runs one transaction that locks the counter row, reclaims expired leases of that
scope, and adds the grant to ``reserved_millicents`` only if ``spent + reserved + grant <=
budget``. Every process therefore sees every other process's leases as spent, so the sum of
what all processes admit can never pass the budget.

A lease's ``amount_millicents`` is what it still holds. It goes down in three ways: a usage
row of a request admitted under it lands (``budget_state.apply_usage_batch``, in the write
batch's transaction, so the cost moves from *reserved* to *spent* atomically; the SQL is the
function ``gateway_settle_usage``, migration 0190), the process gives back what it does not
need (``give_back``), or the lease expires and is reclaimed (``reclaim_expired``). Lock order
is always the counter rows first (a batch locks several: organizations, then users and keys,
each sorted), then their lease rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import msgspec

from gateway.policy.budget_state import month_bounds, read_counter


class Grant(msgspec.Struct, frozen=True):
    """The outcome of a take: how much the lease grew (0 = refused) and the counter after it."""

    lease_id: str
    granted: int
    spent_millicents: int
    reserved_millicents: int
    expires_in_s: float


def is_org(scope: str) -> bool:
    return scope.startswith("org:")


def scope_id(scope: str) -> str:
    return scope.split(":", 1)[1]


_LOCK_ORG = (
    "SELECT spent_millicents, reserved_millicents FROM gateway_budget_counters "
    "WHERE organization_id = %s AND month = %s FOR UPDATE"
)
_LOCK_SCOPE = (
    "SELECT spent_millicents, reserved_millicents FROM gateway_budget_scope_counters "
    "WHERE scope = %s AND month = %s FOR UPDATE"
)
_MOVE_ORG = """
UPDATE gateway_budget_counters
SET reserved_millicents = GREATEST(0, reserved_millicents + %(reserved)s), updated_at = NOW()
WHERE organization_id = %(id)s AND month = %(month)s
RETURNING spent_millicents, reserved_millicents
"""
_MOVE_SCOPE = """
UPDATE gateway_budget_scope_counters
SET reserved_millicents = GREATEST(0, reserved_millicents + %(reserved)s),
    spent_millicents = spent_millicents + %(spent)s, updated_at = NOW()
WHERE scope = %(scope)s AND month = %(month)s
RETURNING spent_millicents, reserved_millicents
"""
# A user's spend is seeded from llm_usage on the month's first touch; a key's starts at zero
# (llm_usage does not name the key), which is also when its budget starts to count.
_SEED_USER = """
INSERT INTO gateway_budget_scope_counters (scope, month, spent_millicents)
SELECT %(scope)s, %(month)s, COALESCE(SUM(estimated_cost_millicents), 0)
FROM llm_usage WHERE user_id = %(id)s AND created_at >= %(start)s AND created_at < %(end)s
ON CONFLICT (scope, month) DO NOTHING
"""
_SEED_KEY = "INSERT INTO gateway_budget_scope_counters (scope, month) VALUES (%s, %s) ON CONFLICT DO NOTHING"

_RECLAIM = """
UPDATE gateway_budget_leases SET released_at = NOW(), release_reason = 'expired'
WHERE scope = %s AND month = %s AND released_at IS NULL AND expires_at < NOW()
RETURNING amount_millicents
"""
_GROW = """
UPDATE gateway_budget_leases
SET amount_millicents = amount_millicents + %(x)s, expires_at = NOW() + make_interval(secs => %(ttl)s)
WHERE id = %(id)s AND released_at IS NULL
RETURNING id
"""
_INSERT = """
INSERT INTO gateway_budget_leases (id, scope, month, holder, amount_millicents, expires_at)
VALUES (%(id)s, %(scope)s, %(month)s, %(holder)s, %(x)s, NOW() + make_interval(secs => %(ttl)s))
"""
_RENEW = """
UPDATE gateway_budget_leases SET expires_at = NOW() + make_interval(secs => %s)
WHERE id = ANY(string_to_array(%s, ',')::uuid[]) AND released_at IS NULL
RETURNING id::text
"""
_SHRINK = """
WITH old AS (
    SELECT id, amount_millicents AS before FROM gateway_budget_leases
    WHERE id = %(id)s AND released_at IS NULL FOR UPDATE
)
UPDATE gateway_budget_leases l
SET amount_millicents = CASE WHEN %(close)s THEN 0 ELSE old.before - LEAST(old.before, %(x)s) END,
    released_at = CASE WHEN %(close)s THEN NOW() END, release_reason = CASE WHEN %(close)s THEN 'returned' END
FROM old WHERE l.id = old.id
RETURNING CASE WHEN %(close)s THEN old.before ELSE LEAST(old.before, %(x)s) END
"""


async def lock_counter(conn: Any, scope: str, month: date) -> tuple[int, int]:
    """Lock (creating/seeding on first touch) the scope's counter row: (spent, reserved)."""
    sid = scope_id(scope)
    if is_org(scope):
        row = await (await conn.execute(_LOCK_ORG, (sid, month))).fetchone()
        if row is None:
            await read_counter(conn, sid, month)
            row = await (await conn.execute(_LOCK_ORG, (sid, month))).fetchone()
    else:
        row = await (await conn.execute(_LOCK_SCOPE, (scope, month))).fetchone()
        if row is None:
            if scope.startswith("user:"):
                start, end = month_bounds(month)
                params = {"scope": scope, "month": month, "id": sid, "start": start, "end": end}
                await conn.execute(_SEED_USER, params)
            else:
                await conn.execute(_SEED_KEY, (scope, month))
            row = await (await conn.execute(_LOCK_SCOPE, (scope, month))).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def counter_of(conn: Any, scope: str, month: date) -> tuple[int, int]:
    """The scope's (spent, reserved) as committed, without locking (0, 0 before its first touch)."""
    if is_org(scope):
        sql = "SELECT spent_millicents, reserved_millicents FROM gateway_budget_counters WHERE organization_id = %s"
        row = await (await conn.execute(sql + " AND month = %s", (scope_id(scope), month))).fetchone()
    else:
        sql = "SELECT spent_millicents, reserved_millicents FROM gateway_budget_scope_counters WHERE scope = %s"
        row = await (await conn.execute(sql + " AND month = %s", (scope, month))).fetchone()
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


async def _move(conn: Any, scope: str, month: date, *, reserved: int, spent: int = 0) -> tuple[int, int]:
    if is_org(scope):
        params: dict[str, Any] = {"reserved": reserved, "id": scope_id(scope), "month": month}
        row = await (await conn.execute(_MOVE_ORG, params)).fetchone()
    else:
        params = {"reserved": reserved, "spent": spent, "scope": scope, "month": month}
        row = await (await conn.execute(_MOVE_SCOPE, params)).fetchone()
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


async def take(
    conn: Any,
    *,
    scope: str,
    month: date,
    budget: int,
    lease_id: str | None,
    holder: str,
    fraction: float,
    need: int,
    ttl_s: float,
) -> Grant:
    """Grow (or open) a lease by ``fraction`` of the free headroom, at least ``need``.

    Call inside a transaction. The grant shrinks with the headroom, down to exactly ``need``
    (a strict reservation for one request) near the limit; ``granted`` is 0 when not even
    ``need`` fits. When the lease named by ``lease_id`` was reclaimed meanwhile, a new one is
    opened (its id is returned).
    """
    spent, reserved = await lock_counter(conn, scope, month)
    reclaimed = sum(int(r[0]) for r in await (await conn.execute(_RECLAIM, (scope, month))).fetchall())
    if reclaimed:
        spent, reserved = await _move(conn, scope, month, reserved=-reclaimed)
    free = budget - spent - reserved
    grant = min(free, max(need, int(free * fraction)))
    if grant < need or grant <= 0:
        return Grant(lease_id or "", 0, spent, reserved, ttl_s)
    params = {"x": grant, "ttl": ttl_s, "id": lease_id, "scope": scope, "month": month, "holder": holder}
    row = None
    if lease_id is not None:
        row = await (await conn.execute(_GROW, params)).fetchone()
    if row is None:
        lease_id = params["id"] = str(uuid.uuid4())
        await conn.execute(_INSERT, params)
    spent, reserved = await _move(conn, scope, month, reserved=grant)
    assert lease_id is not None
    return Grant(lease_id, grant, spent, reserved, ttl_s)


async def give_back(conn: Any, lease_id: str, amount: int, *, close: bool = False) -> int:
    """Return up to ``amount`` of a lease to its counter (``close``: all of it, and end the lease)."""
    async with conn.transaction():
        row = await (
            await conn.execute("SELECT scope, month FROM gateway_budget_leases WHERE id = %s", (lease_id,))
        ).fetchone()
        if row is None:
            return 0
        scope, month = str(row[0]), row[1]
        await lock_counter(conn, scope, month)
        params = {"x": max(0, amount), "id": lease_id, "close": close}
        shrunk = await (await conn.execute(_SHRINK, params)).fetchone()
        returned = int(shrunk[0]) if shrunk is not None else 0
        if returned:
            await _move(conn, scope, month, reserved=-returned)
        return returned


async def renew(conn: Any, lease_ids: Sequence[str], ttl_s: float) -> set[str]:
    """Push the leases' expiry out; returns the ids still open (the others were reclaimed)."""
    if not lease_ids:
        return set()
    rows = await (await conn.execute(_RENEW, (ttl_s, ",".join(lease_ids)))).fetchall()
    return {str(r[0]) for r in rows}


async def reclaim_expired(conn: Any, scope: str, month: date) -> int:
    """Release the scope's expired leases (their process died). Returns the amount freed."""
    async with conn.transaction():
        await lock_counter(conn, scope, month)
        freed = sum(int(r[0]) for r in await (await conn.execute(_RECLAIM, (scope, month))).fetchall())
        if freed:
            await _move(conn, scope, month, reserved=-freed)
        return freed
