"""The write queue: batches land, a database outage spools to disk, replay loses nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from gateway import accounts
from gateway.metrics import Metrics
from gateway.store.queue import Spool, WriteQueue
from gateway.store.records import KeyTouch, UsageRecord

DOWN_URL = "postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=1"


def usage(org: accounts.BootstrapResult, **kw: Any) -> UsageRecord:
    base: dict[str, Any] = dict(
        request_id=str(uuid.uuid4()),
        organization_id=org.organization_id,
        user_id=org.user_id,
        model="claude-haiku-4-5",
        provider="anthropic",
        tier="basic",
        created_at=datetime.now(UTC).isoformat(),
        prompt_tokens=10,
        completion_tokens=5,
        cost_millicents=7,
    )
    base.update(kw)
    return UsageRecord(**base)


@pytest.fixture
def org(db_url: str) -> accounts.BootstrapResult:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return accounts.bootstrap(conn, org="Queue Co", email="q@queue.test")


async def _pool(url: str) -> AsyncConnectionPool[Any]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, min_size=1, max_size=2, open=False, kwargs={"autocommit": True}
    )
    await pool.open(wait=False)
    return pool


@pytest.fixture
async def good_pool(db_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    pool = await _pool(db_url)
    yield pool
    await pool.close()


def count(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM llm_usage").fetchone()
    return int(row[0]) if row else -1


async def test_batches_land_and_are_idempotent(
    db_url: str, org: accounts.BootstrapResult, good_pool: AsyncConnectionPool[Any], tmp_path: Path
) -> None:
    q = WriteQueue(good_pool, tmp_path, Metrics(), batch_max=7)
    q.start()
    records = [usage(org) for _ in range(20)]
    for r in records:
        q.put(r)
    q.put(records[0])  # a replayed duplicate must not double count
    await q.wait_idle()
    await q.drain()
    assert count(db_url) == 20
    assert not Spool(tmp_path).files()


async def test_database_down_spools_then_replays_everything(
    db_url: str, org: accounts.BootstrapResult, good_pool: AsyncConnectionPool[Any], tmp_path: Path
) -> None:
    down = await _pool(DOWN_URL)
    try:
        q = WriteQueue(down, tmp_path, Metrics(), batch_max=5, pool_timeout_s=0.3)
        q.start()
        for _ in range(12):
            q.put(usage(org))
        q.put(KeyTouch(key_id=str(uuid.uuid4()), used_at=datetime.now(UTC).isoformat()))
        await q.wait_idle()
        await q.drain()
    finally:
        await down.close(timeout=1)
    files = Spool(tmp_path).files()
    assert len(files) == 3  # 13 records in batches of 5
    assert sum(len(Spool.read(f)) for f in files) == 13
    assert count(db_url) == 0
    # The database is back: a queue (e.g. the next process) replays the spool, oldest first.
    q2 = WriteQueue(good_pool, tmp_path, Metrics())
    assert await q2.replay_spool() == 3
    assert count(db_url) == 12
    assert not Spool(tmp_path).files()
    assert await q2.replay_spool() == 0  # nothing left, nothing doubled
    assert count(db_url) == 12


async def test_full_queue_spills_to_disk_instead_of_dropping(
    db_url: str, org: accounts.BootstrapResult, good_pool: AsyncConnectionPool[Any], tmp_path: Path
) -> None:
    q = WriteQueue(good_pool, tmp_path, Metrics(), max_items=3)
    for _ in range(5):
        q.put(usage(org))  # flusher not started: the queue fills
    assert len(q) == 3
    assert sum(len(Spool.read(f)) for f in Spool(tmp_path).files()) == 2
    await q.drain()
    await q.replay_spool()
    assert count(db_url) == 5


async def test_a_record_the_database_refuses_is_kept_aside(
    db_url: str, org: accounts.BootstrapResult, good_pool: AsyncConnectionPool[Any], tmp_path: Path
) -> None:
    q = WriteQueue(good_pool, tmp_path, Metrics())
    q.put(usage(org))
    q.put(usage(org, user_id=str(uuid.uuid4())))  # no such user: a foreign-key violation forever
    q.put(usage(org))
    await q.drain()
    assert count(db_url) == 2
    rejected = Spool(tmp_path / "rejected").files()
    assert len(rejected) == 1
    assert len(Spool.read(rejected[0])) == 1
    assert not Spool(tmp_path).files()  # not in the replay loop


async def test_drain_at_shutdown_writes_what_is_queued(
    db_url: str, org: accounts.BootstrapResult, good_pool: AsyncConnectionPool[Any], tmp_path: Path
) -> None:
    q = WriteQueue(good_pool, tmp_path, Metrics(), flush_interval_s=60)
    q.start()
    for _ in range(4):
        q.put(usage(org))
    await q.drain()
    assert count(db_url) == 4


async def test_records_that_arrive_during_a_write_wait_for_the_next_tick(
    db_url: str, org: accounts.BootstrapResult, good_pool: AsyncConnectionPool[Any], tmp_path: Path
) -> None:
    """Under load a batch holds an interval's records, not the few that came in during one write."""
    sizes: list[int] = []
    q = WriteQueue(good_pool, tmp_path, Metrics(), flush_interval_s=0.5)

    async def hook(conn: Any, rows: Any) -> None:
        sizes.append(len(rows))
        if len(sizes) == 1:
            q.put(usage(org))  # arrives while the first batch is being written

    q.add_hook(hook)
    q.start()
    q.put(usage(org))
    for _ in range(200):  # the first tick writes the first record
        if sizes:
            break
        await asyncio.sleep(0.01)
    assert sizes == [1]
    q.put(usage(org))  # arrives before the next tick: it joins the one that came during the write
    await asyncio.sleep(0.05)
    assert sizes == [1]
    await q.wait_idle()
    assert sizes == [1, 2]
    assert count(db_url) == 3
    await q.drain()


async def test_no_replay_is_tried_while_live_batches_are_being_spooled(
    org: accounts.BootstrapResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay during an outage would only wait out the pool timeout again, live records waiting."""
    down = await _pool(DOWN_URL)
    replays: list[int] = []
    try:
        q = WriteQueue(down, tmp_path, Metrics(), flush_interval_s=0.02, replay_interval_s=0.0, pool_timeout_s=0.1)
        real = q.replay_spool

        async def counted(max_files: int | None = None) -> int:
            replays.append(len(q))
            return await real(max_files)

        monkeypatch.setattr(q, "replay_spool", counted)
        q.start()
        for _ in range(8):  # steady load: a record arrives during every failing write
            q.put(usage(org))
            await asyncio.sleep(0.12)
        await q.drain()
    finally:
        await down.close(timeout=1)
    assert len(Spool(tmp_path).files()) >= 4
    assert all(pending == 0 for pending in replays)  # only ever as the probe, with nothing live queued


async def test_flush_soon_writes_what_is_queued_before_the_next_tick(
    db_url: str, org: accounts.BootstrapResult, good_pool: AsyncConnectionPool[Any], tmp_path: Path
) -> None:
    q = WriteQueue(good_pool, tmp_path, Metrics(), flush_interval_s=60)
    q.start()
    q.put(usage(org))
    q.put(usage(org))
    q.flush_soon()  # (a lease ran short: its holds are on these rows)
    for _ in range(200):
        if count(db_url) == 2:
            break
        await asyncio.sleep(0.01)
    assert count(db_url) == 2  # long before the 60 s tick
    await q.drain()
