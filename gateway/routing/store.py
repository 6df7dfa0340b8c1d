"""Versioned router configurations in PostgreSQL, cached per organization.

Reads are served from memory; a ``PUT /v1/router/config`` inserts a new version and
sends ``NOTIFY gateway_cache, 'router'`` so every process drops its cache, and a short
TTL bounds staleness if a notification is missed.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from router.config import DEFAULT_CONFIG, RouterConfig

_SELECT = """
SELECT version, config FROM gateway_router_config
WHERE organization_id = %s OR organization_id IS NULL
ORDER BY (organization_id IS NULL), version DESC LIMIT 1
"""
_INSERT = """
INSERT INTO gateway_router_config (organization_id, config, created_by) VALUES (%s, %s, %s) RETURNING version
"""
_enc = msgspec.json.Encoder()


class RouterConfigStore:
    def __init__(self, pool: AsyncConnectionPool[Any], ttl_s: float = 5.0) -> None:
        self._pool = pool
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, RouterConfig]] = {}

    def invalidate(self) -> None:
        self._cache.clear()

    async def current(self, organization_id: str) -> RouterConfig:
        hit = self._cache.get(organization_id)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_SELECT, (organization_id,))).fetchone()
        config = DEFAULT_CONFIG
        if row is not None:
            data = dict(row[1])
            data["version"] = int(row[0])
            config = msgspec.convert(data, RouterConfig)
        self._cache[organization_id] = (now + self._ttl, config)
        return config

    async def save(self, organization_id: str, config: RouterConfig, created_by: str | None) -> RouterConfig:
        """Store ``config`` as the organization's newest version and tell every process."""
        body = msgspec.to_builtins(config)
        body.pop("version", None)
        async with self._pool.connection() as conn, conn.transaction():
            row = await (
                await conn.execute(_INSERT, (organization_id, _enc.encode(body).decode(), created_by))
            ).fetchone()
            await conn.execute("SELECT pg_notify('gateway_cache', 'router')")
        assert row is not None
        saved = msgspec.structs.replace(config, version=int(row[0]))
        self._cache[organization_id] = (time.monotonic() + self._ttl, saved)
        return saved
