"""Resolving credentials to principals, with an in-process cache.

The request path must not pay a database round trip per request, so resolved principals
are cached per credential for a short TTL. Any change that matters (key revoked, tiers or
budget changed through the gateway) sends ``NOTIFY gateway_cache`` and every process
drops its cache; the TTL bounds staleness for changes made behind the gateway's back
(e.g. by the main application).

Past its TTL an entry is still served for up to ``stale_s`` while one background load
revalidates it (stale-while-revalidate), so a database outage does not stop callers the
cache knows. A reconnect of the LISTEN connection marks entries stale instead of dropping
them (a notification may have been missed, but the entries are the best view there is).
Concurrent misses on one credential share one load (single flight).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from gateway.auth.keys import digest_matches, parse_prefix
from gateway.auth.principal import GroupPolicy, Limits, OrgPolicy, Principal
from gateway.errors import ServiceUnavailable, Unauthenticated
from pricing.money import usd_to_millicents

log = logging.getLogger(__name__)

INVALIDATE_CHANNEL = "gateway_cache"

_KEY_SQL = """
SELECT k.id::text, k.key_hash, k.expires_at, k.revoked_at, k.user_id::text, k.organization_id::text,
       k.rpm_limit, k.tpm_limit, k.max_parallel, k.monthly_budget_millicents
FROM gateway_api_keys k WHERE k.prefix = %s
"""

_USER_SQL = """
SELECT u.id::text, u.organization_id::text, u.email, u.status, u.deleted_at,
       o.deleted_at, COALESCE(m.role, 'member'),
       ul.rpm_limit, ul.tpm_limit, ul.max_parallel, ul.monthly_budget_millicents
FROM users u
JOIN organizations o ON o.id = u.organization_id
LEFT JOIN org_memberships m ON m.user_id = u.id AND m.organization_id = u.organization_id
LEFT JOIN gateway_user_limits ul ON ul.user_id = u.id
WHERE u.id = %s
"""

_ORG_SQL = """
SELECT id::text, COALESCE(allowed_tiers, ARRAY['basic']::text[]), COALESCE(model_tier_assignments, '{}'::jsonb),
       system_prompt, monthly_budget, COALESCE(budget_alert_threshold, 80), COALESCE(budget_hard_limit, false),
       rpm_limit, tpm_limit, max_parallel
FROM organizations WHERE id = %s
"""

_GROUPS_SQL = """
SELECT g.id::text, g.allowed_tiers, g.system_prompt
FROM group_memberships gm JOIN groups g ON g.id = gm.group_id
WHERE gm.user_id = %s AND g.organization_id = %s
ORDER BY g.created_at, g.id
"""

_LEGACY_SQL = "SELECT user_id::text FROM user_id_mappings WHERE legacy_id = %s"


def _budget_millicents(value: Decimal | None) -> int | None:
    return None if value is None else usd_to_millicents(value)


@dataclass(slots=True)
class _Entry:
    fresh_until: float
    stale_until: float
    principal: Principal


class PrincipalResolver:
    """Turns API keys and user ids into principals, caching the results."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], ttl_s: float = 30.0, stale_s: float = 600.0, metrics: Any = None
    ) -> None:
        self._pool = pool
        self._ttl = ttl_s
        self._stale = stale_s
        self._metrics = metrics
        self._cache: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Task[Principal]] = {}
        self.loads = 0  # database loads started (tests check the single flight with it)

    def invalidate(self) -> None:
        """Drop every entry (a change was announced: revocations must apply at once)."""
        self._cache.clear()

    def mark_stale(self) -> None:
        """Keep entries but revalidate each on its next use (the LISTEN connection reconnected)."""
        for entry in self._cache.values():
            entry.fresh_until = 0.0

    async def from_api_key(self, key: str) -> Principal:
        return await self._get(key, lambda: self._load_key(key))

    async def from_user_id(self, subject: str) -> Principal:
        """A JWT subject: a user UUID, or a legacy TEXT id mapped in ``user_id_mappings``."""
        return await self._get("sub:" + subject, lambda: self._load_subject(subject))

    async def _get(self, cache_key: str, load: Any) -> Principal:
        entry = self._cache.get(cache_key)
        now = time.monotonic()
        if entry is not None:
            if now < entry.fresh_until:
                return entry.principal
            if now < entry.stale_until:
                if cache_key not in self._inflight:
                    task = self._start(cache_key, load)
                    task.add_done_callback(_swallow)
                if self._metrics is not None:
                    self._metrics.stale_principals.inc()
                return entry.principal
        task = self._inflight.get(cache_key) or self._start(cache_key, load)
        # shield: one waiter giving up must not cancel the load the others wait for.
        return await asyncio.shield(task)

    def _start(self, cache_key: str, load: Any) -> asyncio.Task[Principal]:
        self.loads += 1
        task = asyncio.ensure_future(self._load_and_store(cache_key, load))
        self._inflight[cache_key] = task
        return task

    async def _load_and_store(self, cache_key: str, load: Any) -> Principal:
        errors_before = self._pool.get_stats().get("connections_errors", 0)
        try:
            principal: Principal = await load()
        except Unauthenticated:
            self._cache.pop(cache_key, None)  # e.g. revoked since it was cached
            raise
        except PoolTimeout:
            if self._pool.get_stats().get("connections_errors", 0) > errors_before:
                # The pool failed to connect while we waited: that is an outage.
                raise ServiceUnavailable(
                    "the gateway cannot reach its database right now; retry shortly",
                    code="database_unreachable",
                    retry_after_s=2,
                ) from None
            # No connection failed: they were all busy. The database is up, this process is saturated.
            raise ServiceUnavailable(
                "the gateway is busy (all its database connections are in use); retry shortly",
                code="gateway_busy",
                retry_after_s=1,
            ) from None
        finally:
            self._inflight.pop(cache_key, None)
        now = time.monotonic()
        self._cache[cache_key] = _Entry(now + self._ttl, now + self._ttl + self._stale, principal)
        return principal

    async def _load_subject(self, subject: str) -> Principal:
        async with self._pool.connection() as conn:
            user_id = subject if _looks_like_uuid(subject) else None
            if user_id is None:
                row = await (await conn.execute(_LEGACY_SQL, (subject,))).fetchone()
                if row is None:
                    raise Unauthenticated("token subject is not a known user", code="unknown_user")
                user_id = str(row[0])
            return await _load_principal(conn, user_id, key_id=None, auth="jwt")

    async def _load_key(self, key: str) -> Principal:
        prefix = parse_prefix(key)
        if prefix is None:
            raise Unauthenticated("the API key is malformed; keys look like gw_xxxxxxxx_...")
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_KEY_SQL, (prefix,))).fetchone()
            if row is None or not digest_matches(key, bytes(row[1])):
                raise Unauthenticated("the API key is not valid")
            key_id, _, expires_at, revoked_at, user_id, _org, rpm, tpm, par, budget = row
            if revoked_at is not None:
                raise Unauthenticated("the API key was revoked", code="key_revoked")
            if expires_at is not None and expires_at <= datetime.now(UTC):
                raise Unauthenticated("the API key has expired", code="key_expired")
            principal = await _load_principal(conn, str(user_id), key_id=str(key_id), auth="api_key")
            return msgspec.structs.replace(principal, key_limits=Limits(rpm, tpm, par, _int(budget)))


def _swallow(task: asyncio.Task[Principal]) -> None:
    """A background revalidation's failure keeps the stale entry; it is only logged."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, Unauthenticated):
        log.info("principal revalidation failed, serving the cached entry meanwhile: %s", exc)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _looks_like_uuid(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4


async def _load_principal(conn: Any, user_id: str, *, key_id: str | None, auth: str) -> Principal:
    row = await (await conn.execute(_USER_SQL, (user_id,))).fetchone()
    if row is None:
        raise Unauthenticated("the user does not exist", code="unknown_user")
    uid, org_id, email, status, user_deleted, org_deleted, role, rpm, tpm, par, budget = row
    if user_deleted is not None or (status or "active") != "active":
        raise Unauthenticated("the user is inactive or deleted", code="user_inactive")
    if org_deleted is not None:
        raise Unauthenticated("the organization was deleted", code="organization_deleted")
    org = await load_org_policy(conn, str(org_id))
    rows = await (await conn.execute(_GROUPS_SQL, (uid, org_id))).fetchall()
    groups = tuple(
        GroupPolicy(str(gid), tuple(tiers) if tiers is not None else None, prompt) for gid, tiers, prompt in rows
    )
    return Principal(
        user_id=str(uid),
        organization_id=str(org_id),
        role=str(role),
        email=str(email),
        org=org,
        groups=groups,
        key_id=key_id,
        auth=auth,
        user_limits=Limits(rpm, tpm, par, _int(budget)),
    )


async def load_org_policy(conn: Any, org_id: str) -> OrgPolicy:
    row = await (await conn.execute(_ORG_SQL, (org_id,))).fetchone()
    if row is None:
        raise Unauthenticated("the organization does not exist", code="organization_deleted")
    oid, tiers, assignments, prompt, budget, threshold, hard, rpm, tpm, par = row
    return OrgPolicy(
        organization_id=str(oid),
        allowed_tiers=tuple(tiers),
        model_tier_assignments=dict(assignments or {}),
        system_prompt=prompt,
        monthly_budget_millicents=_budget_millicents(budget),
        budget_alert_threshold=int(threshold),
        budget_hard_limit=bool(hard),
        rpm_limit=rpm,
        tpm_limit=tpm,
        max_parallel=par,
    )
