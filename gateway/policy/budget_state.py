"""Month-to-date spend in PostgreSQL: the counter, strict reservations and their expiry.

The counter row (``gateway_budget_counters``) is the only place spend is summed. It moves in
two ways, always inside one transaction each:

* ``apply_usage_batch`` (the write queue's batch hook): the cost of the llm_usage rows that
  the batch actually inserted is added, and the strict reservations and lease holds of
  those requests are released (one server-side call, ``gateway_settle_usage``). Rows a
  replayed batch did not insert (``ON CONFLICT DO NOTHING``) are skipped by matching
  ``xmin`` with the current transaction id, so a replay never counts twice.
* ``reserve``: one conditional ``UPDATE ... WHERE spent + reserved + x <= budget RETURNING``,
  which PostgreSQL serialises on the row lock, so processes sharing the database can never
  jointly reserve past the budget.

Reservation rows carry ``expires_at``; ``expire_reservations`` releases the ones whose
request never settled (a crashed process), so they stop counting. Months are calendar
months in UTC; the first touch of a month seeds its counter from llm_usage, which also
covers rows written before the gateway kept counters (or by another application).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from gateway.store.records import UsageRecord

_json = msgspec.json.Encoder()

# The whole batch's settlement in one call (migration 0190 says what it does and why).
_SETTLE_SQL = "SELECT * FROM gateway_settle_usage(%s::json)"

_RELEASE_SQL = """
UPDATE gateway_budget_reservations
SET released_at = NOW(), release_reason = %s
WHERE request_id = ANY(string_to_array(%s, ',')::uuid[]) AND released_at IS NULL
RETURNING organization_id::text, month, amount_millicents
"""

_EXPIRE_SQL = """
UPDATE gateway_budget_reservations
SET released_at = NOW(), release_reason = 'expired'
WHERE released_at IS NULL AND expires_at < NOW() AND (%s::uuid IS NULL OR organization_id = %s::uuid)
RETURNING organization_id::text, month, amount_millicents
"""

_BUMP_SQL = """
UPDATE gateway_budget_counters
SET spent_millicents = spent_millicents + %s, reserved_millicents = GREATEST(0, reserved_millicents - %s),
    updated_at = NOW()
WHERE organization_id = %s AND month = %s
RETURNING spent_millicents
"""

# First touch of a month: seed from llm_usage (this transaction's own rows included). On a
# concurrent first touch the other transaction's seed did not see our rows: add our delta.
_SEED_SQL = """
INSERT INTO gateway_budget_counters (organization_id, month, spent_millicents)
SELECT %(org)s, %(month)s, COALESCE(SUM(estimated_cost_millicents), 0)
FROM llm_usage
WHERE organization_id = %(org)s AND created_at >= %(start)s AND created_at < %(end)s
ON CONFLICT (organization_id, month) DO UPDATE
SET spent_millicents = gateway_budget_counters.spent_millicents + %(delta)s,
    reserved_millicents = GREATEST(0, gateway_budget_counters.reserved_millicents - %(released)s),
    updated_at = NOW()
RETURNING spent_millicents
"""

_READ_SQL = """
SELECT spent_millicents, reserved_millicents FROM gateway_budget_counters WHERE organization_id = %s AND month = %s
"""

_RESERVE_SQL = """
UPDATE gateway_budget_counters
SET reserved_millicents = reserved_millicents + %(x)s, updated_at = NOW()
WHERE organization_id = %(org)s AND month = %(month)s
  AND spent_millicents + reserved_millicents + %(x)s <= %(budget)s
RETURNING spent_millicents, reserved_millicents
"""

_INSERT_RESERVATION_SQL = """
INSERT INTO gateway_budget_reservations (request_id, organization_id, month, amount_millicents, expires_at)
VALUES (%s, %s, %s, %s, NOW() + make_interval(secs => %s))
"""


class Counter(msgspec.Struct, frozen=True):
    """One organization's month: what is spent and what strict reservations hold."""

    spent_millicents: int
    reserved_millicents: int


class SpendChange(msgspec.Struct, frozen=True):
    """What one batch did to one organization's month (input to the alert check).

    ``org`` is the organization's (name, budget in millicents or None, alert threshold %)
    when the settlement read them along, so the alert check needs no query of its own.
    """

    organization_id: str
    month: date
    before_millicents: int
    after_millicents: int
    org: tuple[str, int | None, int] | None = None


class ReserveResult(msgspec.Struct, frozen=True):
    """The outcome of a strict reservation and the counter as it stood."""

    granted: bool
    counter: Counter


def month_of(moment: datetime) -> date:
    """The first day of ``moment``'s calendar month in UTC."""
    utc = moment.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of the month as UTC timestamps."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end_month = next_month(month)
    return start, datetime(end_month.year, end_month.month, 1, tzinfo=UTC)


async def _bump(conn: Any, org: str, month: date, delta: int, released: int) -> int:
    row = await (await conn.execute(_BUMP_SQL, (delta, released, org, month))).fetchone()
    if row is not None:
        return int(row[0])
    start, end = month_bounds(month)
    params = {"org": org, "month": month, "start": start, "end": end, "delta": delta, "released": released}
    row = await (await conn.execute(_SEED_SQL, params)).fetchone()
    assert row is not None
    return int(row[0])


async def apply_usage_batch(conn: Any, usage: Sequence[UsageRecord]) -> list[SpendChange]:
    """Settle the batch's budgets: one statement, in the batch transaction, after the insert.

    Adds the inserted rows' cost to their counters, releases their strict reservations and
    their lease holds (``UsageRecord.holds``, moving user and key spend too), and returns one
    change per organization-month whose spend moved, for the alert check. Rows a replayed
    batch did not insert are skipped (``xmin``), so a replay moves nothing twice.
    """
    if not usage:
        return []
    # The batch travels as one JSON document encoded by msgspec (in C): binding ids or
    # adapting arrays element by element in Python costs the gateway's core more than the call.
    batch = _json.encode([(r.request_id, r.reserved_millicents, r.holds) for r in usage]).decode()
    rows = await (await conn.execute(_SETTLE_SQL, (batch,))).fetchall()
    return [
        SpendChange(org, month, int(before), int(after), (str(name), budget, int(pct)))
        for org, month, before, after, name, budget, pct in rows
    ]


async def expire_reservations(conn: Any, organization_id: str | None = None) -> int:
    """Release reservations past ``expires_at`` (their request never settled). Returns how many."""
    rows = await (await conn.execute(_EXPIRE_SQL, (organization_id, organization_id))).fetchall()
    freed: dict[tuple[str, date], int] = defaultdict(int)
    for org, month, amount in rows:
        freed[(str(org), month)] += int(amount)
    for (org, month), amount in sorted(freed.items()):
        await _bump(conn, org, month, 0, amount)
    return len(rows)


async def release_reservations(conn: Any, request_ids: Sequence[str], reason: str) -> int:
    """Release the strict reservations of requests that will never be sent (call in a transaction).

    For a group of requests admitted together (an arena battle) when a later member is
    refused: the earlier ones' holds must not wait for their expiry. Returns how many.
    """
    if not request_ids:
        return 0
    rows = await (await conn.execute(_RELEASE_SQL, (reason, ",".join(request_ids)))).fetchall()
    freed: dict[tuple[str, date], int] = defaultdict(int)
    for org, month, amount in rows:
        freed[(str(org), month)] += int(amount)
    for (org, month), amount in sorted(freed.items()):
        await _bump(conn, org, month, 0, amount)
    return len(rows)


async def read_counter(conn: Any, organization_id: str, month: date) -> Counter:
    """The counter for the month, seeding it from llm_usage on first touch."""
    row = await (await conn.execute(_READ_SQL, (organization_id, month))).fetchone()
    if row is None:
        await _bump(conn, organization_id, month, 0, 0)
        row = await (await conn.execute(_READ_SQL, (organization_id, month))).fetchone()
        assert row is not None
    return Counter(int(row[0]), int(row[1]))


async def reserve(
    conn: Any,
    *,
    organization_id: str,
    month: date,
    request_id: str,
    amount_millicents: int,
    budget_millicents: int,
    ttl_s: float,
) -> ReserveResult:
    """Atomically hold ``amount_millicents`` if it fits under the budget (call in a transaction)."""
    await expire_reservations(conn, organization_id)
    params = {"x": amount_millicents, "org": organization_id, "month": month, "budget": budget_millicents}
    row = await (await conn.execute(_RESERVE_SQL, params)).fetchone()
    if row is None:
        counter = await read_counter(conn, organization_id, month)
        if counter.spent_millicents + counter.reserved_millicents + amount_millicents > budget_millicents:
            return ReserveResult(False, counter)
        row = await (await conn.execute(_RESERVE_SQL, params)).fetchone()
        if row is None:
            return ReserveResult(False, await read_counter(conn, organization_id, month))
    await conn.execute(_INSERT_RESERVATION_SQL, (request_id, organization_id, month, amount_millicents, ttl_s))
    return ReserveResult(True, Counter(int(row[0]), int(row[1])))


def utc_now() -> datetime:
    return datetime.now(UTC)


def days_left(now: datetime, month: date) -> float:
    """Days (fractional) from ``now`` to the end of ``month``."""
    _, end = month_bounds(month)
    return max(0.0, (end - now) / timedelta(days=1))
