"""``GET /v1/router/summary``: what AUTO mode did over a period, from ``routing_decisions``.

Two grouped queries (tier x model, and 10-point score buckets) keep the work in
PostgreSQL; the rest is arithmetic on a handful of rows. A decision is a *fallback* when
the model that served it is not the catalog's model for the tier the scorer chose (the
caller's tiers did not allow that one), so the count follows the catalog, not log text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from gateway.routing.labeled_eval import LabeledTraffic
from pricing.money import usd_float
from router.complexity import COMPLEXITIES

# Scope: one organization, optionally one user; the period is [start, end).
_WHERE = """
d.organization_id = %(org)s::uuid AND (%(user)s::uuid IS NULL OR d.user_id = %(user)s::uuid)
AND d.created_at >= %(start)s AND d.created_at < %(end)s
"""
_BY_TIER_MODEL_SQL = f"""
SELECT d.tier, d.selected_model, count(*),
    count(*) FILTER (WHERE d.request_succeeded),
    count(*) FILTER (WHERE NOT d.request_succeeded),
    COALESCE(sum(d.response_tokens), 0),
    COALESCE(sum(u.prompt_tokens + u.cache_creation_tokens + u.cache_read_tokens), 0),
    COALESCE(sum(d.estimated_cost_millicents), 0),
    sum(d.score), sum(d.confidence)
FROM routing_decisions d LEFT JOIN llm_usage u ON u.request_id = d.request_id
WHERE {_WHERE}
GROUP BY d.tier, d.selected_model
"""
_HISTOGRAM_SQL = f"""
SELECT LEAST(GREATEST(d.score, 0) / 10, 9) AS bucket, count(*)
FROM routing_decisions d
WHERE {_WHERE}
GROUP BY bucket
"""


# Cascade decisions are those whose reasoning starts ``cascade:``; an escalated one says
# ``escalating`` (the same rule the labels from traffic use, :func:`gateway.routing.labels.cascade_label`).
_CASCADE_SQL = f"""
SELECT count(*) FILTER (WHERE d.reasoning LIKE 'cascade:%%'),
       count(*) FILTER (WHERE d.reasoning LIKE 'cascade:%%' AND d.reasoning LIKE '%%escalating%%')
FROM routing_decisions d
WHERE {_WHERE}
"""


class CascadeShare(msgspec.Struct, kw_only=True):
    """Cascade-mode decisions of the period and how many escalated to the strong model."""

    decisions: int = 0
    escalated: int = 0
    accepted: int = 0
    escalation_share: float | None = None  # escalated / decisions; None without cascade decisions


def cascade_share(decisions: int, escalated: int) -> CascadeShare:
    share = round(escalated / decisions, 4) if decisions else None
    return CascadeShare(
        decisions=decisions, escalated=escalated, accepted=decisions - escalated, escalation_share=share
    )


class TierSummary(msgspec.Struct, kw_only=True):
    """One complexity tier's share of the period.

    ``input_tokens`` come from the matching ``llm_usage`` rows (prompt + cache tokens);
    ``response_tokens`` and cost are the decision rows' own columns.
    """

    tier: str
    requests: int = 0
    share: float = 0.0
    succeeded: int = 0
    failed: int = 0
    success_rate: float | None = None
    avg_score: float | None = None
    avg_confidence: float | None = None
    response_tokens: int = 0
    input_tokens: int = 0
    cost_millicents: int = 0
    cost_usd: float = 0.0
    fallbacks: int = 0
    models: dict[str, int] = msgspec.field(default_factory=dict)


class ScoreBucket(msgspec.Struct, kw_only=True):
    """Decisions whose score is within ``[low, high]`` (the last bucket includes 100)."""

    low: int
    high: int
    count: int


class RouterSummary(msgspec.Struct, kw_only=True):
    organization_id: str
    user_id: str | None  # set when the caller only sees their own decisions
    start: str
    end: str  # exclusive
    requests: int
    succeeded: int
    failed: int
    success_rate: float | None
    response_tokens: int
    input_tokens: int
    cost_millicents: int
    cost_usd: float
    fallbacks: int
    tiers: list[TierSummary]
    score_histogram: list[ScoreBucket]
    cascade: CascadeShare = msgspec.field(default_factory=CascadeShare)
    # The current configuration on the organization's labeled traffic (whole-org callers only).
    labeled: LabeledTraffic | None = None


def _rate(ok: int, bad: int) -> float | None:
    return round(ok / (ok + bad), 4) if ok + bad else None


def build_summary(
    by_tier_model: list[tuple[Any, ...]],
    histogram: list[tuple[Any, ...]],
    complexity_of: Callable[[str], str | None],
    *,
    organization_id: str,
    user_id: str | None,
    start: datetime,
    end: datetime,
    cascade: tuple[Any, ...] | None = None,
) -> RouterSummary:
    """Fold the grouped rows into the summary (pure: no I/O)."""
    tiers: dict[str, TierSummary] = {t: TierSummary(tier=t) for t in COMPLEXITIES}
    score_sum: dict[str, float] = dict.fromkeys(COMPLEXITIES, 0.0)
    conf_sum: dict[str, float] = dict.fromkeys(COMPLEXITIES, 0.0)
    for tier, model, n, ok, bad, out_tok, in_tok, cost, s_sum, c_sum in by_tier_model:
        ts = tiers.setdefault(str(tier), TierSummary(tier=str(tier)))
        score_sum[ts.tier] = score_sum.get(ts.tier, 0.0) + float(s_sum or 0)
        conf_sum[ts.tier] = conf_sum.get(ts.tier, 0.0) + float(c_sum or 0)
        ts.requests += int(n)
        ts.succeeded += int(ok)
        ts.failed += int(bad)
        ts.response_tokens += int(out_tok)
        ts.input_tokens += int(in_tok)
        ts.cost_millicents += int(cost)
        ts.models[str(model)] = ts.models.get(str(model), 0) + int(n)
        served_class = complexity_of(str(model))
        if served_class is not None and served_class != ts.tier:
            ts.fallbacks += int(n)
    total = sum(t.requests for t in tiers.values())
    for ts in tiers.values():
        ts.share = round(ts.requests / total, 4) if total else 0.0
        ts.success_rate = _rate(ts.succeeded, ts.failed)
        ts.cost_usd = usd_float(ts.cost_millicents)
        if ts.requests:
            ts.avg_score = round(score_sum[ts.tier] / ts.requests, 2)
            ts.avg_confidence = round(conf_sum[ts.tier] / ts.requests, 4)
    counts = {int(b): int(n) for b, n in histogram}
    buckets = [ScoreBucket(low=b * 10, high=b * 10 + (10 if b == 9 else 9), count=counts.get(b, 0)) for b in range(10)]
    ok = sum(t.succeeded for t in tiers.values())
    bad = sum(t.failed for t in tiers.values())
    cost = sum(t.cost_millicents for t in tiers.values())
    return RouterSummary(
        organization_id=organization_id,
        user_id=user_id,
        start=start.isoformat(),
        end=end.isoformat(),
        requests=total,
        succeeded=ok,
        failed=bad,
        success_rate=_rate(ok, bad),
        response_tokens=sum(t.response_tokens for t in tiers.values()),
        input_tokens=sum(t.input_tokens for t in tiers.values()),
        cost_millicents=cost,
        cost_usd=usd_float(cost),
        fallbacks=sum(t.fallbacks for t in tiers.values()),
        tiers=list(tiers.values()),
        score_histogram=buckets,
        cascade=cascade_share(int(cascade[0]), int(cascade[1])) if cascade else CascadeShare(),
    )


async def router_summary(
    pool: AsyncConnectionPool[Any],
    complexity_of: Callable[[str], str | None],
    *,
    organization_id: str,
    user_id: str | None,
    start: datetime,
    end: datetime,
) -> RouterSummary:
    """The summary of one organization's (or one user's) AUTO decisions in ``[start, end)``."""
    params = {"org": organization_id, "user": user_id, "start": start, "end": end}
    async with pool.connection() as conn:
        rows = await (await conn.execute(_BY_TIER_MODEL_SQL, params)).fetchall()
        hist = await (await conn.execute(_HISTOGRAM_SQL, params)).fetchall()
        cascade = await (await conn.execute(_CASCADE_SQL, params)).fetchone()
    return build_summary(
        rows,
        hist,
        complexity_of,
        organization_id=organization_id,
        user_id=user_id,
        start=start,
        end=end,
        cascade=cascade,
    )
