"""One write batch's budget settlement (``gateway_settle_usage``) on real PostgreSQL.

The batch hook moves org, user and key counters and lease holds in one server-side call;
these tests pin what it must do: count only rows the batch inserted (a replay moves
nothing), sum holds per lease, close strict 'request:' leases, move user/key spend even
when the lease was reclaimed meanwhile, seed a missing counter row, and lock so that no two
batches can deadlock whatever order their records come in (counter rows first, sorted, then leases).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from gateway.accounts import BootstrapResult
from gateway.policy.budget_state import SpendChange, apply_usage_batch, month_of
from gateway.policy.lease_state import take
from gateway.store.records import BudgetHold, UsageRecord
from gateway.store.writer import write_batch
from tests.policy.helpers import Conn, budget, counter, usage_record

MONTH = month_of(datetime.now(UTC))


async def _lease(db_url: str, scope: str, budget_mc: int, fraction: float, holder: str = "process") -> str:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn, conn.transaction():
        grant = await take(
            conn,
            scope=scope,
            month=MONTH,
            budget=budget_mc,
            lease_id=None,
            holder=holder,
            fraction=fraction,
            need=1,
            ttl_s=60,
        )
    assert grant.granted > 0
    return grant.lease_id


async def _land(db_url: str, batch: list[UsageRecord]) -> list[SpendChange]:
    changes: list[SpendChange] = []

    async def hook(conn: Any, usage: Any) -> None:
        changes.extend(await apply_usage_batch(conn, usage))

    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await write_batch(conn, batch, [hook])
    return changes


def _scope_counter(conn: Conn, scope: str) -> tuple[int, int] | None:
    row = conn.execute(
        "SELECT spent_millicents, reserved_millicents FROM gateway_budget_scope_counters "
        "WHERE scope = %s AND month = %s",
        (scope, MONTH),
    ).fetchone()
    return (int(row[0]), int(row[1])) if row is not None else None


def _lease_row(conn: Conn, lease_id: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT amount_millicents, released_at IS NOT NULL, release_reason FROM gateway_budget_leases WHERE id = %s",
        (lease_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_holds_move_org_and_key_counters_once_even_when_replayed(db_url: str, conn: Conn, org: BootstrapResult) -> None:
    budget(conn, org.organization_id, "10.00", hard=True, alert_pct=80)
    org_scope, key_scope = "org:" + org.organization_id, f"key:{uuid.uuid4()}"
    org_lease = asyncio.run(_lease(db_url, org_scope, 1_000_000, 0.1))  # 100_000
    key_lease = asyncio.run(_lease(db_url, key_scope, 10_000, 0.5))  # 5_000
    batch = [
        usage_record(org, 30, BudgetHold(org_lease, org_scope, 100), BudgetHold(key_lease, key_scope, 100)),
        usage_record(org, 40, BudgetHold(org_lease, org_scope, 100), BudgetHold(key_lease, key_scope, 100)),
        usage_record(org, 5),  # no holds: its cost still counts for the organization
    ]
    changes = asyncio.run(_land(db_url, batch))
    assert changes == [SpendChange(org.organization_id, MONTH, 0, 75, ("Acme", 1_000_000, 80))]
    state = (
        counter(conn, org.organization_id),
        _scope_counter(conn, key_scope),
        _lease_row(conn, org_lease),
        _lease_row(conn, key_lease),
    )
    assert state == ((75, 99_800), (70, 4_800), (99_800, False, None), (4_800, False, None))
    # The commit acknowledgement was lost and the batch is replayed: nothing moves again.
    assert asyncio.run(_land(db_url, batch)) == []
    again = (
        counter(conn, org.organization_id),
        _scope_counter(conn, key_scope),
        _lease_row(conn, org_lease),
        _lease_row(conn, key_lease),
    )
    assert again == state


def test_strict_lease_closes_and_a_reclaimed_lease_still_moves_spend(
    db_url: str, conn: Conn, org: BootstrapResult
) -> None:
    user_scope, key_scope = "user:" + org.user_id, f"key:{uuid.uuid4()}"
    strict = asyncio.run(_lease(db_url, user_scope, 1_000, 0.0, holder=f"request:{uuid.uuid4()}"))  # exactly 1
    key_lease = asyncio.run(_lease(db_url, key_scope, 10_000, 0.1))  # 1_000
    # The key's lease was reclaimed meanwhile (its process seemed dead): it frees nothing more,
    # but the landed request's cost is still the key's spend.
    conn.execute(
        "UPDATE gateway_budget_leases SET released_at = NOW(), release_reason = 'expired' WHERE id = %s", (key_lease,)
    )
    conn.execute("UPDATE gateway_budget_scope_counters SET reserved_millicents = 0 WHERE scope = %s", (key_scope,))
    batch = [usage_record(org, 7, BudgetHold(strict, user_scope, 5), BudgetHold(key_lease, key_scope, 300))]
    asyncio.run(_land(db_url, batch))
    assert _lease_row(conn, strict) == (0, True, "settled")  # held 1, asked 5: never below 0
    assert _scope_counter(conn, user_scope) == (7, 0)
    assert _lease_row(conn, key_lease) == (1_000, True, "expired")
    assert _scope_counter(conn, key_scope) == (7, 0)


def test_a_missing_counter_row_is_seeded(db_url: str, conn: Conn, org: BootstrapResult) -> None:
    key_scope = f"key:{uuid.uuid4()}"
    key_lease = asyncio.run(_lease(db_url, key_scope, 10_000, 0.1))
    conn.execute("DELETE FROM gateway_budget_scope_counters WHERE scope = %s", (key_scope,))
    conn.execute("DELETE FROM gateway_budget_counters WHERE organization_id = %s", (org.organization_id,))
    changes = asyncio.run(_land(db_url, [usage_record(org, 9, BudgetHold(key_lease, key_scope, 50))]))
    assert [(c.before_millicents, c.after_millicents) for c in changes] == [(0, 9)]
    assert counter(conn, org.organization_id) == (9, 0)  # seeded from llm_usage: this row, once
    assert _scope_counter(conn, key_scope) == (9, 0)  # a key starts at zero; its reserved never goes negative


def test_concurrent_batches_keep_every_counter_equal_to_its_leases(
    db_url: str, conn: Conn, org: BootstrapResult
) -> None:
    scopes = ["org:" + org.organization_id, "user:" + org.user_id] + [f"key:{uuid.uuid4()}" for _ in range(3)]
    leases = {s: asyncio.run(_lease(db_url, s, 10**9, 0.5)) for s in scopes}
    rng = random.Random(7)

    async def run() -> None:
        async with AsyncConnectionPool(db_url, min_size=6, max_size=6, kwargs={"autocommit": True}) as pool:

            async def one() -> None:
                batch = []
                for _ in range(4):
                    picked = rng.sample(scopes, 3)
                    batch.append(usage_record(org, 2, *(BudgetHold(leases[s], s, 10) for s in picked)))
                async with pool.connection() as c, c.transaction():
                    await write_batch(c, batch, [apply_usage_batch])  # type: ignore[list-item]

            await asyncio.gather(*(one() for _ in range(60)))

    asyncio.run(run())
    assert counter(conn, org.organization_id)[0] == 60 * 4 * 2
    held = conn.execute("SELECT SUM(amount_millicents) FROM gateway_budget_leases").fetchone()
    granted = 5 * (10**9 // 2)
    assert held is not None and int(held[0]) == granted - 60 * 4 * 3 * 10
    scope_spent = conn.execute(
        "SELECT SUM(spent_millicents), SUM(reserved_millicents) FROM gateway_budget_scope_counters"
    ).fetchone()
    _, org_reserved = counter(conn, org.organization_id)
    assert scope_spent is not None
    # Every counter's reserved equals what its lease still holds, however the batches interleaved.
    assert int(scope_spent[1]) + org_reserved == int(held[0])


def test_counter_rows_are_locked_in_order_before_any_lease_row(db_url: str, conn: Conn, org: BootstrapResult) -> None:
    """Blocked on the second key's counter row, the batch holds the org's and the first key's, and no lease."""
    first, second = sorted(f"key:{uuid.uuid4()}" for _ in range(2))
    scopes = ["org:" + org.organization_id, first, second]
    leases = {s: asyncio.run(_lease(db_url, s, 10**6, 0.1)) for s in scopes}
    batch = [usage_record(org, 1, *(BudgetHold(leases[s], s, 10) for s in reversed(scopes)))]

    async def run() -> tuple[list[str], list[str]]:
        async with await psycopg.AsyncConnection.connect(db_url) as blocker:
            await blocker.execute(
                "SELECT 1 FROM gateway_budget_scope_counters WHERE scope = %s AND month = %s FOR UPDATE",
                (second, MONTH),
            )
            landing = asyncio.create_task(_land(db_url, batch))
            for _ in range(200):
                row = await (
                    await blocker.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                ).fetchone()
                if row is not None and row[0]:
                    break
                await asyncio.sleep(0.02)
            held, free = [], []
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as probe:
                probes = [
                    (
                        "org counter",
                        "SELECT 1 FROM gateway_budget_counters WHERE organization_id = %s",
                        org.organization_id,
                    ),
                    ("first key counter", "SELECT 1 FROM gateway_budget_scope_counters WHERE scope = %s", first),
                ] + [(f"lease {s}", "SELECT 1 FROM gateway_budget_leases WHERE id = %s", leases[s]) for s in scopes]
                for name, sql, arg in probes:
                    try:
                        await probe.execute(sql + " FOR UPDATE NOWAIT", (arg,))
                        free.append(name)
                    except psycopg.errors.LockNotAvailable:
                        held.append(name)
            await blocker.rollback()
            await landing
            return held, free

    held, free = asyncio.run(run())
    assert held == ["org counter", "first key counter"]
    assert free == [f"lease {s}" for s in scopes]
    assert _scope_counter(conn, second) == (1, 100_000 - 10)
