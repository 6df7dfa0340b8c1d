"""Read-only data the console shows that no other endpoint serves: who am I, decisions, config history.

All of it is scoped like the reports: one organization, and members see only their own
decisions. Config versions are the organization's own plus the shared defaults, newest first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from gateway.auth.principal import Principal
from gateway.errors import InvalidRequest

MAX_DECISIONS = 500


class Me(msgspec.Struct, frozen=True):
    """The caller, and the console views their role may open."""

    user_id: str
    email: str
    organization_id: str
    role: str
    auth: str
    views: list[str]


class Decision(msgspec.Struct, frozen=True):
    id: str
    created_at: datetime
    user_id: str
    provider: str
    selected_model: str
    tier: str
    score: int
    confidence: float
    query_length: int | None
    request_succeeded: bool | None
    response_tokens: int | None
    cost_millicents: int | None


class DecisionList(msgspec.Struct, frozen=True):
    data: list[Decision]


class ConfigVersion(msgspec.Struct, frozen=True):
    version: int
    scope: str  # organization | default
    created_at: datetime
    created_by: str | None
    config: dict[str, Any]


class ConfigVersionList(msgspec.Struct, frozen=True):
    data: list[ConfigVersion]


def views_for(principal: Principal) -> list[str]:
    """Console views by role: usage for all; spend for finance and up; router for admins; admin for admins."""
    views = ["usage"]
    if principal.sees_whole_org:
        views += ["spend", "budget", "savings"]
    if principal.is_admin:
        views += ["router", "admin"]
    return views


def me(principal: Principal) -> Me:
    return Me(
        user_id=principal.user_id,
        email=principal.email,
        organization_id=principal.organization_id,
        role=principal.role,
        auth=principal.auth,
        views=views_for(principal),
    )


_DECISIONS_SQL = """
SELECT id::text, created_at, user_id::text, provider, selected_model, tier, score, confidence, query_length,
       request_succeeded, response_tokens, estimated_cost_millicents
FROM routing_decisions
WHERE organization_id = %(org)s::uuid
  AND (%(user)s::uuid IS NULL OR user_id = %(user)s::uuid)
  AND (%(tier)s::text IS NULL OR tier = %(tier)s::text)
  AND (%(model)s::text IS NULL OR selected_model = %(model)s::text)
  AND (%(ok)s::boolean IS NULL OR request_succeeded IS NOT DISTINCT FROM %(ok)s::boolean)
  AND score BETWEEN %(lo)s AND %(hi)s
ORDER BY created_at DESC, id LIMIT %(limit)s
"""


async def decisions(
    conn: Any,
    principal: Principal,
    *,
    tier: str | None,
    model: str | None,
    success: bool | None,
    score_min: int,
    score_max: int,
    limit: int,
) -> DecisionList:
    if not 0 <= score_min <= score_max <= 100:
        raise InvalidRequest("need 0 <= score_min <= score_max <= 100", param="score_min")
    if not 1 <= limit <= MAX_DECISIONS:
        raise InvalidRequest(f"limit must be between 1 and {MAX_DECISIONS}", param="limit")
    args = {
        "org": principal.organization_id,
        "user": None if principal.sees_whole_org else principal.user_id,
        "tier": tier or None,
        "model": model or None,
        "ok": success,
        "lo": score_min,
        "hi": score_max,
        "limit": limit,
    }
    rows = await (await conn.execute(_DECISIONS_SQL, args)).fetchall()
    return DecisionList(data=[Decision(*r) for r in rows])


_VERSIONS_SQL = """
SELECT version, CASE WHEN organization_id IS NULL THEN 'default' ELSE 'organization' END, created_at,
       created_by::text, config
FROM gateway_router_config
WHERE organization_id = %s::uuid OR organization_id IS NULL
ORDER BY version DESC LIMIT 50
"""


async def config_versions(conn: Any, principal: Principal) -> ConfigVersionList:
    rows = await (await conn.execute(_VERSIONS_SQL, (principal.organization_id,))).fetchall()
    return ConfigVersionList(data=[ConfigVersion(int(r[0]), r[1], r[2], r[3], dict(r[4])) for r in rows])


class TierDay(msgspec.Struct, frozen=True):
    day: str
    tier: str
    requests: int


class TierMix(msgspec.Struct, frozen=True):
    data: list[TierDay]


_TIER_MIX_SQL = """
SELECT (created_at AT TIME ZONE 'UTC')::date::text, tier, count(*)
FROM routing_decisions
WHERE organization_id = %(org)s::uuid AND (%(user)s::uuid IS NULL OR user_id = %(user)s::uuid)
  AND created_at >= %(start)s AND created_at < %(end)s
GROUP BY 1, 2 ORDER BY 1, 2
"""


async def tier_mix(conn: Any, principal: Principal, start: datetime, end: datetime) -> TierMix:
    """Decisions per UTC day and complexity tier over ``[start, end)``."""
    args = {
        "org": principal.organization_id,
        "user": None if principal.sees_whole_org else principal.user_id,
        "start": start,
        "end": end,
    }
    rows = await (await conn.execute(_TIER_MIX_SQL, args)).fetchall()
    return TierMix(data=[TierDay(str(r[0]), str(r[1]), int(r[2])) for r in rows])


class WhatIf(msgspec.Struct, frozen=True):
    """Logged decisions re-cut at other thresholds: how many would land in each tier."""

    decisions: int
    simple_max: int
    medium_max: int
    logged: dict[str, int]
    replayed: dict[str, int]


_WHATIF_SQL = """
SELECT count(*),
       count(*) FILTER (WHERE score <= %(s)s),
       count(*) FILTER (WHERE score > %(s)s AND score <= %(m)s),
       count(*) FILTER (WHERE score > %(m)s)
FROM routing_decisions
WHERE organization_id = %(org)s::uuid AND (%(user)s::uuid IS NULL OR user_id = %(user)s::uuid)
  AND created_at >= %(start)s AND created_at < %(end)s
"""

_LOGGED_SQL = """
SELECT tier, count(*) FROM routing_decisions
WHERE organization_id = %(org)s::uuid AND (%(user)s::uuid IS NULL OR user_id = %(user)s::uuid)
  AND created_at >= %(start)s AND created_at < %(end)s
GROUP BY tier
"""


async def what_if(
    conn: Any, principal: Principal, simple_max: int, medium_max: int, start: datetime, end: datetime
) -> WhatIf:
    """Replay the period's logged scores against new cut points (the scores themselves are kept as logged)."""
    if not 0 <= simple_max < medium_max <= 100:
        raise InvalidRequest("need 0 <= simple_max < medium_max <= 100", param="simple_max")
    args = {
        "org": principal.organization_id,
        "user": None if principal.sees_whole_org else principal.user_id,
        "s": simple_max,
        "m": medium_max,
        "start": start,
        "end": end,
    }
    row = await (await conn.execute(_WHATIF_SQL, args)).fetchone()
    assert row is not None
    logged = {str(t): int(n) for t, n in await (await conn.execute(_LOGGED_SQL, args)).fetchall()}
    replayed = {"simple": int(row[1]), "medium": int(row[2]), "complex": int(row[3])}
    return WhatIf(int(row[0]), simple_max, medium_max, logged, replayed)
