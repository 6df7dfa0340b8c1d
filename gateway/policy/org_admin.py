"""Reading and changing an organization's tiers, model tier assignments and budget.

One implementation for the HTTP admin routes and the ``gateway org`` command: each change
runs in one transaction that locks the organization row, writes an ``audit_events`` row per
kind of change (with the before and after values) and tells every gateway process to drop
its principal cache, so the new policy applies to the next request everywhere.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from gateway.errors import InvalidRequest, NotFound
from gateway.model_tier import MODEL_TIERS
from gateway.policy.budget_state import days_left, expire_reservations, month_of, next_month, read_counter
from gateway.policy.limits_admin import UserLimitsPatch, UserLimitsView, apply_limits, read_org_limits, validate
from pricing.money import MoneyError, parse_usd, usd_cents_text, usd_to_millicents

_MAX_BUDGET = Decimal("99999999.99")  # DECIMAL(10,2)
_json = msgspec.json.Encoder()


class PolicyView(msgspec.Struct, frozen=True):
    """What an owner or admin sees and may change."""

    organization_id: str
    allowed_tiers: list[str]
    model_tier_assignments: dict[str, str | None]
    monthly_budget_usd: str | None
    budget_alert_threshold: int
    budget_hard_limit: bool
    # Rate limits (null: none) and per-user limits and budgets, keyed by user id.
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel: int | None = None
    user_limits: dict[str, UserLimitsView] = msgspec.field(default_factory=dict)


class PolicyPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A partial change; absent fields are left as they are.

    ``model_tier_assignments`` replaces the whole map (a null value disables the model).
    ``monthly_budget_usd`` null removes the budget.
    """

    allowed_tiers: list[str] | msgspec.UnsetType = msgspec.UNSET
    model_tier_assignments: dict[str, str | None] | msgspec.UnsetType = msgspec.UNSET
    monthly_budget_usd: str | float | int | msgspec.UnsetType | None = msgspec.UNSET
    budget_alert_threshold: int | msgspec.UnsetType = msgspec.UNSET
    budget_hard_limit: bool | msgspec.UnsetType = msgspec.UNSET
    rpm_limit: int | msgspec.UnsetType | None = msgspec.UNSET
    tpm_limit: int | msgspec.UnsetType | None = msgspec.UNSET
    max_parallel: int | msgspec.UnsetType | None = msgspec.UNSET
    # user id -> that user's limits and monthly budget (merged into what is set).
    user_limits: dict[str, UserLimitsPatch] | msgspec.UnsetType = msgspec.UNSET


class BudgetStatus(msgspec.Struct, frozen=True):
    """``GET /v1/budget``: the month so far and where it is heading."""

    organization_id: str
    month: str
    resets_on: str
    month_to_date_millicents: int
    month_to_date_usd: str
    budget_millicents: int | None
    budget_usd: str | None
    percent_used: float | None
    alert_threshold: int
    hard_limit: bool
    reserved_millicents: int
    daily_run_rate_usd: str
    projected_month_end_millicents: int
    projected_month_end_usd: str
    projected_percent: float | None


_POLICY_SQL = """
SELECT id::text, COALESCE(allowed_tiers, ARRAY[]::text[]), COALESCE(model_tier_assignments, '{}'::jsonb),
       monthly_budget, COALESCE(budget_alert_threshold, 80), COALESCE(budget_hard_limit, false)
FROM organizations WHERE id = %s AND deleted_at IS NULL
"""

_UPDATE_SQL = """
UPDATE organizations SET allowed_tiers = %s, model_tier_assignments = %s::jsonb, monthly_budget = %s,
    budget_alert_threshold = %s, budget_hard_limit = %s, updated_at = NOW()
WHERE id = %s
"""

_AUDIT_SQL = """
INSERT INTO audit_events (user_id, event_type, resource_type, resource_id, action, organization_id, metadata)
VALUES (%s, %s, 'organization', %s, 'update', %s, %s::jsonb)
"""

_RUN_RATE_SQL = """
SELECT COALESCE(SUM(estimated_cost_millicents), 0)::bigint, MIN(created_at)
FROM llm_usage WHERE organization_id = %s AND created_at >= %s
"""


def _budget_text(value: Decimal | None) -> str | None:
    return None if value is None else usd_cents_text(usd_to_millicents(value))


async def read_policy(conn: Any, organization_id: str) -> PolicyView:
    row = await (await conn.execute(_POLICY_SQL, (organization_id,))).fetchone()
    if row is None:
        raise NotFound(f"organization {organization_id} does not exist", code="organization_not_found")
    oid, tiers, assignments, budget, threshold, hard = row
    limits, users = await read_org_limits(conn, organization_id)
    return PolicyView(
        str(oid),
        list(tiers),
        dict(assignments),
        _budget_text(budget),
        int(threshold),
        bool(hard),
        rpm_limit=limits["rpm_limit"],
        tpm_limit=limits["tpm_limit"],
        max_parallel=limits["max_parallel"],
        user_limits=users,
    )


def _parse_budget(value: str | float | int | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = parse_usd(value).quantize(Decimal("0.01"))
    except (MoneyError, InvalidOperation):
        raise InvalidRequest(f"monthly_budget_usd {value!r} is not an amount", param="monthly_budget_usd") from None
    if amount < 0 or amount > _MAX_BUDGET:
        raise InvalidRequest("monthly_budget_usd must be between 0 and 99999999.99", param="monthly_budget_usd")
    return amount


def _validate(patch: PolicyPatch, known_models: Collection[str]) -> None:
    if not isinstance(patch.allowed_tiers, msgspec.UnsetType):
        bad = [t for t in patch.allowed_tiers if t not in MODEL_TIERS]
        if bad:
            raise InvalidRequest(f"unknown tiers {bad}; tiers are {', '.join(MODEL_TIERS)}", param="allowed_tiers")
    if not isinstance(patch.model_tier_assignments, msgspec.UnsetType):
        for model, tier in patch.model_tier_assignments.items():
            if model not in known_models:
                raise InvalidRequest(
                    f"unknown model {model!r} in model_tier_assignments", param="model_tier_assignments"
                )
            if tier is not None and tier not in MODEL_TIERS:
                raise InvalidRequest(
                    f"model {model!r}: tier must be one of {', '.join(MODEL_TIERS)} or null (disabled)",
                    param="model_tier_assignments",
                )
    if not isinstance(patch.budget_alert_threshold, msgspec.UnsetType) and not 1 <= patch.budget_alert_threshold <= 100:
        raise InvalidRequest("budget_alert_threshold must be between 1 and 100", param="budget_alert_threshold")
    validate(patch.rpm_limit, patch.tpm_limit, patch.max_parallel, patch.user_limits)


async def apply_patch(
    conn: Any, organization_id: str, actor_user_id: str, patch: PolicyPatch, known_models: Collection[str]
) -> PolicyView:
    """Validate and apply ``patch`` in one transaction; audit and broadcast what changed."""
    _validate(patch, known_models)
    async with conn.transaction():
        row = await (await conn.execute(_POLICY_SQL + " FOR UPDATE", (organization_id,))).fetchone()
        if row is None:
            raise NotFound(f"organization {organization_id} does not exist", code="organization_not_found")
        _, tiers, assignments, budget, threshold, hard = row
        before = {
            "allowed_tiers": list(tiers),
            "model_tier_assignments": dict(assignments),
            "monthly_budget_usd": _budget_text(budget),
            "budget_alert_threshold": int(threshold),
            "budget_hard_limit": bool(hard),
        }
        after = dict(before)
        new_budget: Decimal | None = None if budget is None else Decimal(budget)
        if not isinstance(patch.allowed_tiers, msgspec.UnsetType):
            after["allowed_tiers"] = [t for t in MODEL_TIERS if t in patch.allowed_tiers]
        if not isinstance(patch.model_tier_assignments, msgspec.UnsetType):
            after["model_tier_assignments"] = dict(patch.model_tier_assignments)
        if not isinstance(patch.monthly_budget_usd, msgspec.UnsetType):
            new_budget = _parse_budget(patch.monthly_budget_usd)
            after["monthly_budget_usd"] = _budget_text(new_budget)
        if not isinstance(patch.budget_alert_threshold, msgspec.UnsetType):
            after["budget_alert_threshold"] = patch.budget_alert_threshold
        if not isinstance(patch.budget_hard_limit, msgspec.UnsetType):
            after["budget_hard_limit"] = patch.budget_hard_limit
        await conn.execute(
            _UPDATE_SQL,
            (
                after["allowed_tiers"],
                _json.encode(after["model_tier_assignments"]).decode(),
                new_budget,
                after["budget_alert_threshold"],
                after["budget_hard_limit"],
                organization_id,
            ),
        )
        groups = {
            "organization.tiers_changed": ("allowed_tiers",),
            "organization.model_tiers_changed": ("model_tier_assignments",),
            "organization.budget_changed": ("monthly_budget_usd", "budget_alert_threshold", "budget_hard_limit"),
        }
        for event, fields in groups.items():
            changed = [f for f in fields if before[f] != after[f]]
            if changed:
                meta = {"before": {f: before[f] for f in changed}, "after": {f: after[f] for f in changed}}
                await conn.execute(
                    _AUDIT_SQL, (actor_user_id, event, organization_id, organization_id, _json.encode(meta).decode())
                )
        limit_changes = {
            f: getattr(patch, f)
            for f in ("rpm_limit", "tpm_limit", "max_parallel")
            if not isinstance(getattr(patch, f), msgspec.UnsetType)
        }
        users = {} if isinstance(patch.user_limits, msgspec.UnsetType) else patch.user_limits
        if limit_changes or users:
            await apply_limits(conn, organization_id, actor_user_id, limit_changes, users)
        await conn.execute("SELECT pg_notify('gateway_cache', 'principals')")
    return await read_policy(conn, organization_id)


async def budget_status(conn: Any, organization_id: str, now: datetime) -> BudgetStatus:
    """Month-to-date spend from the counter, and a projection from the last 7 days' run rate."""
    row = await (await conn.execute(_POLICY_SQL, (organization_id,))).fetchone()
    if row is None:
        raise NotFound(f"organization {organization_id} does not exist", code="organization_not_found")
    _, _, _, budget_usd, threshold, hard = row
    month = month_of(now)
    async with conn.transaction():
        await expire_reservations(conn, organization_id)
        counter = await read_counter(conn, organization_id, month)
    spent = counter.spent_millicents
    window_start = now - timedelta(days=7)
    total, first = await (await conn.execute(_RUN_RATE_SQL, (organization_id, window_start))).fetchone()
    # A young organization's rate is over the days it has been active (at least one day), not seven.
    window_days = 7.0 if first is None else min(7.0, max(1.0, (now - first) / timedelta(days=1)))
    rate = int(total) / window_days
    projected = spent + round(rate * days_left(now, month))
    budget = None if budget_usd is None else usd_to_millicents(budget_usd)

    def pct(x: int) -> float | None:
        return None if not budget else round(x * 100 / budget, 2)

    return BudgetStatus(
        organization_id=organization_id,
        month=month.isoformat(),
        resets_on=next_month(month).isoformat(),
        month_to_date_millicents=spent,
        month_to_date_usd=usd_cents_text(spent),
        budget_millicents=budget,
        budget_usd=None if budget is None else usd_cents_text(budget),
        percent_used=pct(spent),
        alert_threshold=int(threshold),
        hard_limit=bool(hard),
        reserved_millicents=counter.reserved_millicents,
        daily_run_rate_usd=usd_cents_text(round(rate)),
        projected_month_end_millicents=projected,
        projected_month_end_usd=usd_cents_text(projected),
        projected_percent=pct(projected),
    )
