"""The spend counter, reservations and their expiry, on real PostgreSQL (no server)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg_pool import AsyncConnectionPool

from gateway.accounts import BootstrapResult
from gateway.policy.budget_state import (
    apply_usage_batch,
    expire_reservations,
    month_of,
    next_month,
    read_counter,
    reserve,
)
from gateway.store.records import UsageRecord
from gateway.store.writer import write_batch
from tests.policy.helpers import Conn, add_spend, counter, usage_record


async def _write(db_url: str, batch: list[UsageRecord]) -> None:
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await write_batch(conn, batch, [apply_usage_batch_hook])


async def apply_usage_batch_hook(conn: object, usage: object) -> None:
    await apply_usage_batch(conn, usage)  # type: ignore[arg-type]


def test_month_helpers_use_utc_calendar_months() -> None:
    late = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert month_of(late) == date(2026, 1, 1)
    # 23:30 UTC on Jan 31 is already February in UTC+2: the month is decided in UTC.
    assert month_of(late.astimezone(ZoneInfo("Europe/Athens"))) == date(2026, 1, 1)
    assert next_month(date(2025, 12, 1)) == date(2026, 1, 1)


def test_counter_seeds_from_existing_usage_and_counts_each_row_once(
    db_url: str, conn: Conn, org: BootstrapResult
) -> None:
    add_spend(conn, org.organization_id, org.user_id, 5_000)  # written before the counter existed
    add_spend(conn, org.organization_id, org.user_id, 9_999, datetime.now(UTC) - timedelta(days=40))  # old month
    batch = [usage_record(org, 700), usage_record(org, 300)]
    asyncio.run(_write(db_url, batch))
    assert counter(conn, org.organization_id) == (6_000, 0)
    # A replayed batch (commit acknowledgement lost): llm_usage ignores it, so must the counter.
    asyncio.run(_write(db_url, batch))
    assert counter(conn, org.organization_id) == (6_000, 0)
    asyncio.run(_write(db_url, [usage_record(org, 50)]))
    assert counter(conn, org.organization_id) == (6_050, 0)
    total = conn.execute(
        "SELECT SUM(estimated_cost_millicents) FROM llm_usage WHERE organization_id = %s "
        "AND created_at >= date_trunc('month', NOW() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        (org.organization_id,),
    ).fetchone()
    assert total is not None and int(total[0]) == 6_050


def test_usage_lands_in_the_month_the_request_arrived(db_url: str, conn: Conn, org: BootstrapResult) -> None:
    last_month = month_of(datetime.now(UTC)) - timedelta(days=1)
    arrived = datetime(last_month.year, last_month.month, last_month.day, 23, 59, tzinfo=UTC)
    asyncio.run(_write(db_url, [usage_record(org, 400, at=arrived), usage_record(org, 10)]))
    rows = conn.execute(
        "SELECT month, spent_millicents FROM gateway_budget_counters WHERE organization_id = %s ORDER BY month",
        (org.organization_id,),
    ).fetchall()
    assert rows == [(month_of(arrived), 400), (month_of(datetime.now(UTC)), 10)]


async def _reserve(pool: AsyncConnectionPool, org_id: str, amount: int, budget: int, ttl: float = 60.0) -> bool:
    async with pool.connection() as conn, conn.transaction():
        result = await reserve(
            conn,
            organization_id=org_id,
            month=month_of(datetime.now(UTC)),
            request_id=str(uuid.uuid4()),
            amount_millicents=amount,
            budget_millicents=budget,
            ttl_s=ttl,
        )
    return result.granted


def test_concurrent_reservations_never_exceed_the_budget(db_url: str, conn: Conn, org: BootstrapResult) -> None:
    add_spend(conn, org.organization_id, org.user_id, 99_000)

    async def run() -> list[bool]:
        async with AsyncConnectionPool(db_url, min_size=8, max_size=8, kwargs={"autocommit": True}) as pool:
            return await asyncio.gather(*(_reserve(pool, org.organization_id, 300, 100_000) for _ in range(40)))

    granted = asyncio.run(run())
    assert sum(granted) == 3  # 1000 millicents of room, 300 each
    assert counter(conn, org.organization_id) == (99_000, 900)


def test_settlement_releases_reservation_and_expiry_frees_crashed_ones(
    db_url: str, conn: Conn, org: BootstrapResult
) -> None:
    add_spend(conn, org.organization_id, org.user_id, 99_000)

    async def run() -> tuple[bool, bool, bool]:
        async with AsyncConnectionPool(db_url, min_size=2, max_size=4, kwargs={"autocommit": True}) as pool:
            crashed = await _reserve(pool, org.organization_id, 800, 100_000, ttl=0.2)  # never settles
            refused = await _reserve(pool, org.organization_id, 800, 100_000)
            await asyncio.sleep(0.3)
            after_expiry = await _reserve(pool, org.organization_id, 800, 100_000)
            return crashed, refused, after_expiry

    assert asyncio.run(run()) == (True, False, True)
    assert counter(conn, org.organization_id) == (99_000, 800)
    expired = conn.execute(
        "SELECT count(*) FROM gateway_budget_reservations WHERE release_reason = 'expired'"
    ).fetchone()
    assert expired == (1,)
    # Settling the open reservation: its usage row releases exactly its amount, once.
    (open_id,) = conn.execute(
        "SELECT request_id::text FROM gateway_budget_reservations WHERE released_at IS NULL"
    ).fetchone() or ("",)
    rec = UsageRecord(
        request_id=open_id,
        organization_id=org.organization_id,
        user_id=org.user_id,
        model="claude-haiku-4-5",
        provider="anthropic",
        tier="basic",
        created_at=datetime.now(UTC).isoformat(),
        cost_millicents=120,
        reserved_millicents=800,
    )
    asyncio.run(_write(db_url, [rec]))
    asyncio.run(_write(db_url, [rec]))
    assert counter(conn, org.organization_id) == (99_120, 0)


def test_expire_sweeps_every_organization(db_url: str, conn: Conn, org: BootstrapResult) -> None:
    async def run() -> int:
        async with AsyncConnectionPool(db_url, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
            async with pool.connection() as c:
                await read_counter(c, org.organization_id, month_of(datetime.now(UTC)))
            await _reserve(pool, org.organization_id, 10, 100_000, ttl=0.0)
            await asyncio.sleep(0.05)
            async with pool.connection() as c, c.transaction():
                return await expire_reservations(c)

    assert asyncio.run(run()) == 1
    assert counter(conn, org.organization_id) == (0, 0)
