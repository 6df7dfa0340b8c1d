"""The principal cache through a database outage: stale-while-revalidate, reconnects, single flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from gateway.accounts import BootstrapResult
from gateway.auth.resolver import PrincipalResolver
from gateway.errors import ServiceUnavailable, Unauthenticated
from tests.policy.helpers import Conn


def _pool(url: str, timeout: float = 10.0) -> AsyncConnectionPool[Any]:
    return AsyncConnectionPool(url, min_size=1, max_size=2, open=False, kwargs={"autocommit": True}, timeout=timeout)


async def test_stale_entries_serve_while_the_database_is_away(db_url: str, org: BootstrapResult) -> None:
    good = _pool(db_url)
    dead = _pool("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=1", timeout=0.5)
    await good.open()
    await dead.open(wait=False)
    try:
        resolver = PrincipalResolver(good, ttl_s=0.01, stale_s=0.6)
        first = await resolver.from_api_key(org.api_key)
        resolver._pool = dead  # the database goes away
        await asyncio.sleep(0.05)
        again = await resolver.from_api_key(org.api_key)  # past the TTL: served stale
        assert again == first
        await asyncio.sleep(0.8)  # past the stale bound: a load is needed, and it fails
        with pytest.raises(ServiceUnavailable) as away:
            await resolver.from_api_key(org.api_key)
        assert away.value.code == "database_unreachable"
        resolver._pool = good  # back: loads again
        assert (await resolver.from_api_key(org.api_key)).user_id == org.user_id
    finally:
        await dead.close()
        await good.close()


async def test_reconnect_marks_stale_but_an_announced_change_drops(
    db_url: str, org: BootstrapResult, conn: Conn
) -> None:
    pool = _pool(db_url)
    await pool.open()
    try:
        resolver = PrincipalResolver(pool, ttl_s=60, stale_s=60)
        await resolver.from_api_key(org.api_key)
        conn.execute("UPDATE gateway_api_keys SET revoked_at = NOW()")
        resolver.mark_stale()  # LISTEN reconnected: the entry is served once more, revalidated behind
        assert (await resolver.from_api_key(org.api_key)).user_id == org.user_id
        await asyncio.sleep(0.3)  # the revalidation found the key revoked and dropped the entry
        with pytest.raises(Unauthenticated):
            await resolver.from_api_key(org.api_key)
        assert resolver.loads == 3
    finally:
        await pool.close()


async def test_concurrent_misses_share_one_load(db_url: str, org: BootstrapResult) -> None:
    pool = _pool(db_url)
    await pool.open()
    try:
        resolver = PrincipalResolver(pool, ttl_s=60)
        got = await asyncio.gather(*(resolver.from_api_key(org.api_key) for _ in range(200)))
        assert len({p.user_id for p in got}) == 1 and resolver.loads == 1
    finally:
        await pool.close()


async def test_a_pool_wait_is_reported_as_busy_not_as_an_outage(db_url: str, org: BootstrapResult) -> None:
    pool = AsyncConnectionPool(db_url, min_size=1, max_size=1, open=False, kwargs={"autocommit": True}, timeout=0.3)
    await pool.open()
    try:
        resolver = PrincipalResolver(pool, ttl_s=60)
        async with pool.connection():  # the only connection is taken
            with pytest.raises(ServiceUnavailable) as busy:
                await resolver.from_api_key(org.api_key)
        assert busy.value.code == "gateway_busy"
    finally:
        await pool.close()
