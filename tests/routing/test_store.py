"""RouterConfigStore on its own: caching, invalidation races, and a database that goes away."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from gateway.accounts import BootstrapResult
from gateway.errors import ServiceUnavailable
from gateway.routing.store import RouterConfigStore
from router.config import DEFAULT_CONFIG, RouterConfig


async def _pool(db_url: str) -> AsyncConnectionPool[Any]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(db_url, min_size=1, max_size=2, open=False)
    await pool.open(wait=True)
    return pool


async def test_cache_save_and_invalidate(db_url: str, org: BootstrapResult, conn: psycopg.Connection[Any]) -> None:
    pool = await _pool(db_url)
    try:
        store = RouterConfigStore(pool, ttl_s=3600)
        assert await store.current(org.organization_id) == DEFAULT_CONFIG
        saved = await store.save(org.organization_id, RouterConfig(simple_max=1, medium_max=2, weights={}), org.user_id)
        assert (await store.current(org.organization_id)).version == saved.version > 0
        # A change made behind this store's back is seen only after an invalidation.
        conn.execute(
            "INSERT INTO gateway_router_config (organization_id, config) VALUES (%s, %s::jsonb)",
            (org.organization_id, '{"simple_max": 3, "medium_max": 4, "weights": {}}'),
        )
        assert (await store.current(org.organization_id)).simple_max == 1
        store.invalidate()
        assert (await store.current(org.organization_id)).simple_max == 3
    finally:
        await pool.close()


async def test_read_overtaken_by_invalidation_is_not_cached(db_url: str, org: BootstrapResult) -> None:
    pool = await _pool(db_url)
    try:
        store = RouterConfigStore(pool, ttl_s=3600)
        real_load = store.load
        calls = 0

        async def load_then_notified(org_id: str) -> tuple[RouterConfig, bool]:
            nonlocal calls
            calls += 1
            result = await real_load(org_id)
            if calls == 1:
                store.invalidate()  # the notification lands while the first read is in flight
            return result

        store.load = load_then_notified  # type: ignore[method-assign,assignment]
        await store.current(org.organization_id)
        await store.current(org.organization_id)
        assert calls == 2  # the first result was not kept
        await store.current(org.organization_id)
        assert calls == 2  # the second was
    finally:
        await pool.close()


async def test_database_gone_keeps_last_config_or_fails_clearly(db_url: str, org: BootstrapResult) -> None:
    pool = await _pool(db_url)
    store = RouterConfigStore(pool, ttl_s=0)
    await store.save(org.organization_id, RouterConfig(simple_max=7, medium_max=8, weights={}), org.user_id)
    assert (await store.current(org.organization_id)).simple_max == 7
    await pool.close()
    assert (await store.current(org.organization_id)).simple_max == 7  # stale beats failing
    with pytest.raises(ServiceUnavailable):
        await RouterConfigStore(pool).current(org.organization_id)
