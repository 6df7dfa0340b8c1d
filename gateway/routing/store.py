"""Versioned router configurations in PostgreSQL, cached per organization.

Reads are served from memory; a ``PUT /v1/router/config`` inserts a new version and
sends ``NOTIFY gateway_cache, 'router'`` so every process drops its cache, and a short
TTL bounds staleness if a notification is missed. The SQL and the row decoding are
module-level so the synchronous command line (``gateway router-config``) stores
versions exactly the way the service does.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from gateway.errors import ServiceUnavailable
from router.config import DEFAULT_CONFIG, RouterConfig

log = logging.getLogger(__name__)

# The organization's newest version, else the newest default (organization_id NULL).
SELECT_SQL = """
SELECT version, config, organization_id IS NOT NULL FROM gateway_router_config
WHERE organization_id = %s::uuid OR organization_id IS NULL
ORDER BY (organization_id IS NULL), version DESC LIMIT 1
"""
INSERT_SQL = """
INSERT INTO gateway_router_config (organization_id, config, created_by) VALUES (%s::uuid, %s::jsonb, %s::uuid)
RETURNING version
"""
AUDIT_SQL = """
INSERT INTO audit_events (user_id, event_type, resource_type, resource_id, action)
VALUES (%s, 'router_config.changed', 'router_config', %s, 'update')
"""
NOTIFY_SQL = "SELECT pg_notify('gateway_cache', 'router')"
# audit_events.user_id is NOT NULL: changes made without a user (the command line) say so.
CLI_ACTOR = "cli"

_enc = msgspec.json.Encoder()


def config_from_row(row: tuple[Any, ...] | None) -> tuple[RouterConfig, bool]:
    """A stored row as ``(config, organization_specific)``; no row is the built-in default."""
    if row is None:
        return DEFAULT_CONFIG, False
    data = dict(row[1])
    data["version"] = int(row[0])
    return msgspec.convert(data, RouterConfig), bool(row[2])


def config_body(config: RouterConfig) -> str:
    """The JSON stored for ``config``: everything but the version, which the table assigns."""
    body = msgspec.to_builtins(config)
    body.pop("version", None)
    return _enc.encode(body).decode()


def audit_resource(organization_id: str | None) -> str:
    """The audit ``resource_id``: whose configuration (the version row itself keeps who and when)."""
    return organization_id or "default"


class RouterConfigStore:
    """The active configuration per organization, cached, with saves that reach every process."""

    def __init__(self, pool: AsyncConnectionPool[Any], ttl_s: float = 5.0) -> None:
        self._pool = pool
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, RouterConfig]] = {}
        # Bumped by every invalidation: a read that started before one must not refill the
        # cache with what it read (it may predate the change the notification announced).
        self._generation = 0

    def invalidate(self) -> None:
        self._generation += 1
        self._cache.clear()

    async def load(self, organization_id: str) -> tuple[RouterConfig, bool]:
        """The active configuration straight from the database, and whether it is the organization's own."""
        async with self._pool.connection() as conn:
            row = await (await conn.execute(SELECT_SQL, (organization_id,))).fetchone()
        return config_from_row(row)

    async def current(self, organization_id: str) -> RouterConfig:
        """The configuration AUTO decisions use now (cached; see the module docstring)."""
        hit = self._cache.get(organization_id)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        try:
            config, _own = await self.load(organization_id)
        except (psycopg.Error, OSError) as exc:
            if hit is not None:
                # Better a configuration a few seconds stale than failing every AUTO request.
                log.warning("router config unreachable, keeping version %s: %s", hit[1].version, exc)
                self._cache[organization_id] = (now + self.ttl_s, hit[1])
                return hit[1]
            raise ServiceUnavailable(
                "the router configuration cannot be read (database unreachable); retry, or name a model",
                code="router_config_unavailable",
            ) from exc
        if generation == self._generation:
            self._cache[organization_id] = (now + self.ttl_s, config)
        return config

    async def save(self, organization_id: str, config: RouterConfig, created_by: str | None) -> RouterConfig:
        """Store ``config`` as the organization's newest version, audit it, and tell every process.

        The insert, the ``router_config.changed`` audit row and the notification share one
        transaction, so no process hears of a version that was rolled back.
        """
        async with self._pool.connection() as conn, conn.transaction():
            row = await (await conn.execute(INSERT_SQL, (organization_id, config_body(config), created_by))).fetchone()
            assert row is not None
            version = int(row[0])
            await conn.execute(AUDIT_SQL, (created_by or CLI_ACTOR, audit_resource(organization_id)))
            await conn.execute(NOTIFY_SQL)
        saved = msgspec.structs.replace(config, version=version)
        self.invalidate()
        self._cache[organization_id] = (time.monotonic() + self.ttl_s, saved)
        return saved
