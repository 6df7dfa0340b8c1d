"""Resolving credentials to principals, with an in-process cache.

The request path must not pay a database round trip per request, so resolved principals
are cached per credential for a short TTL. Any change that matters (key revoked, tiers or
budget changed through the gateway) sends ``NOTIFY gateway_cache`` and every process
drops its cache; the TTL bounds staleness for changes made behind the gateway's back
(e.g. by the main application).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from psycopg_pool import AsyncConnectionPool

from gateway.auth.keys import digest_matches, parse_prefix
from gateway.auth.principal import GroupPolicy, OrgPolicy, Principal
from gateway.errors import Unauthenticated
from pricing.money import usd_to_millicents

INVALIDATE_CHANNEL = "gateway_cache"

_KEY_SQL = """
SELECT k.id::text, k.key_hash, k.expires_at, k.revoked_at, k.user_id::text, k.organization_id::text
FROM gateway_api_keys k WHERE k.prefix = %s
"""

_USER_SQL = """
SELECT u.id::text, u.organization_id::text, u.email, u.status, u.deleted_at,
       o.deleted_at, COALESCE(m.role, 'member')
FROM users u
JOIN organizations o ON o.id = u.organization_id
LEFT JOIN org_memberships m ON m.user_id = u.id AND m.organization_id = u.organization_id
WHERE u.id = %s
"""

_ORG_SQL = """
SELECT id::text, COALESCE(allowed_tiers, ARRAY['basic']::text[]), COALESCE(model_tier_assignments, '{}'::jsonb),
       system_prompt, monthly_budget, COALESCE(budget_alert_threshold, 80), COALESCE(budget_hard_limit, false)
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


class PrincipalResolver:
    """Turns API keys and user ids into principals, caching the results."""

    def __init__(self, pool: AsyncConnectionPool[Any], ttl_s: float = 30.0) -> None:
        self._pool = pool
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, Principal]] = {}

    def invalidate(self) -> None:
        self._cache.clear()

    async def from_api_key(self, key: str) -> Principal:
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = await self._load_key(key)
        self._cache[key] = (now + self._ttl, principal)
        return principal

    async def from_user_id(self, subject: str) -> Principal:
        """A JWT subject: a user UUID, or a legacy TEXT id mapped in ``user_id_mappings``."""
        cache_key = "sub:" + subject
        cached = self._cache.get(cache_key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._pool.connection() as conn:
            user_id = subject if _looks_like_uuid(subject) else None
            if user_id is None:
                row = await (await conn.execute(_LEGACY_SQL, (subject,))).fetchone()
                if row is None:
                    raise Unauthenticated("token subject is not a known user", code="unknown_user")
                user_id = str(row[0])
            principal = await _load_principal(conn, user_id, key_id=None, auth="jwt")
        self._cache[cache_key] = (now + self._ttl, principal)
        return principal

    async def _load_key(self, key: str) -> Principal:
        prefix = parse_prefix(key)
        if prefix is None:
            raise Unauthenticated("the API key is malformed; keys look like gw_xxxxxxxx_...")
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_KEY_SQL, (prefix,))).fetchone()
            if row is None or not digest_matches(key, bytes(row[1])):
                raise Unauthenticated("the API key is not valid")
            key_id, _, expires_at, revoked_at, user_id, _org = row
            if revoked_at is not None:
                raise Unauthenticated("the API key was revoked", code="key_revoked")
            if expires_at is not None and expires_at <= datetime.now(UTC):
                raise Unauthenticated("the API key has expired", code="key_expired")
            return await _load_principal(conn, str(user_id), key_id=str(key_id), auth="api_key")


def _looks_like_uuid(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4


async def _load_principal(conn: Any, user_id: str, *, key_id: str | None, auth: str) -> Principal:
    row = await (await conn.execute(_USER_SQL, (user_id,))).fetchone()
    if row is None:
        raise Unauthenticated("the user does not exist", code="unknown_user")
    uid, org_id, email, status, user_deleted, org_deleted, role = row
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
    )


async def load_org_policy(conn: Any, org_id: str) -> OrgPolicy:
    row = await (await conn.execute(_ORG_SQL, (org_id,))).fetchone()
    if row is None:
        raise Unauthenticated("the organization does not exist", code="organization_deleted")
    oid, tiers, assignments, prompt, budget, threshold, hard = row
    return OrgPolicy(
        organization_id=str(oid),
        allowed_tiers=tuple(tiers),
        model_tier_assignments=dict(assignments or {}),
        system_prompt=prompt,
        monthly_budget_millicents=_budget_millicents(budget),
        budget_alert_threshold=int(threshold),
        budget_hard_limit=bool(hard),
    )
