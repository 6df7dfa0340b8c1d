"""Reading and changing rate limits and per-user budgets (the policy endpoint and ``gateway org set``).

Organization limits are columns on ``organizations``; a user's live in ``gateway_user_limits``.
Changes run inside the policy change's transaction and are audited with before and after
values (``organization.limits_changed``, ``user.limits_changed``); the caller's NOTIFY makes
every process reload its principals.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from gateway.errors import InvalidRequest, NotFound
from pricing.money import usd_cents_text, usd_to_millicents

_MAX_LIMIT = 2_000_000_000
_json = msgspec.json.Encoder()


class UserLimitsView(msgspec.Struct, frozen=True):
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel: int | None = None
    monthly_budget_usd: str | None = None


class UserLimitsPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Absent fields stay; null removes the limit."""

    rpm_limit: int | msgspec.UnsetType | None = msgspec.UNSET
    tpm_limit: int | msgspec.UnsetType | None = msgspec.UNSET
    max_parallel: int | msgspec.UnsetType | None = msgspec.UNSET
    monthly_budget_usd: str | float | int | msgspec.UnsetType | None = msgspec.UNSET


LIMIT_FIELDS = ("rpm_limit", "tpm_limit", "max_parallel")


def check_limit(name: str, value: Any) -> None:
    if value is None or isinstance(value, msgspec.UnsetType):
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_LIMIT:
        raise InvalidRequest(f"{name} must be a whole number from 1 to {_MAX_LIMIT}, or null for none", param=name)


def budget_millicents(value: str | float | int | None, param: str = "monthly_budget_usd") -> int | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise InvalidRequest(f"{param} {value!r} is not an amount", param=param) from None
    if amount < 0 or amount > Decimal("99999999.99"):
        raise InvalidRequest(f"{param} must be between 0 and 99999999.99", param=param)
    return usd_to_millicents(amount)


def _usd(millicents: int | None) -> str | None:
    return None if millicents is None else usd_cents_text(millicents)


def validate(rpm: Any, tpm: Any, par: Any, users: Any) -> None:
    for name, value in zip(LIMIT_FIELDS, (rpm, tpm, par), strict=True):
        check_limit(name, value)
    if isinstance(users, dict):
        for change in users.values():
            for name in LIMIT_FIELDS:
                check_limit(f"user_limits.{name}", getattr(change, name))
            if not isinstance(change.monthly_budget_usd, msgspec.UnsetType):
                budget_millicents(change.monthly_budget_usd, "user_limits.monthly_budget_usd")


async def read_org_limits(conn: Any, org_id: str) -> tuple[dict[str, int | None], dict[str, UserLimitsView]]:
    row = await (
        await conn.execute("SELECT rpm_limit, tpm_limit, max_parallel FROM organizations WHERE id = %s", (org_id,))
    ).fetchone()
    org = dict(zip(LIMIT_FIELDS, row or (None, None, None), strict=True))
    rows = await (
        await conn.execute(
            "SELECT user_id::text, rpm_limit, tpm_limit, max_parallel, monthly_budget_millicents "
            "FROM gateway_user_limits WHERE organization_id = %s ORDER BY user_id",
            (org_id,),
        )
    ).fetchall()
    users = {str(r[0]): UserLimitsView(r[1], r[2], r[3], _usd(r[4])) for r in rows}
    return org, users


_AUDIT_SQL = """
INSERT INTO audit_events (user_id, event_type, resource_type, resource_id, action, organization_id, metadata)
VALUES (%s, %s, %s, %s, 'update', %s, %s::jsonb)
"""


async def apply_limits(
    conn: Any, org_id: str, actor: str, org_changes: dict[str, int | None], users: dict[str, UserLimitsPatch]
) -> None:
    """Apply limit changes inside the caller's transaction, auditing what changed."""
    before_org, before_users = await read_org_limits(conn, org_id)
    if org_changes:
        after = {**before_org, **org_changes}
        await conn.execute(
            "UPDATE organizations SET rpm_limit = %s, tpm_limit = %s, max_parallel = %s WHERE id = %s",
            (after["rpm_limit"], after["tpm_limit"], after["max_parallel"], org_id),
        )
        changed = [f for f in LIMIT_FIELDS if before_org[f] != after[f]]
        if changed:
            meta = {"before": {f: before_org[f] for f in changed}, "after": {f: after[f] for f in changed}}
            await conn.execute(
                _AUDIT_SQL,
                (actor, "organization.limits_changed", "organization", org_id, org_id, _json.encode(meta).decode()),
            )
    for user_id, change in users.items():
        member = await (
            await conn.execute("SELECT 1 FROM users WHERE id::text = %s AND organization_id = %s", (user_id, org_id))
        ).fetchone()
        if member is None:
            raise NotFound(f"user {user_id} is not in this organization", code="user_not_found", param="user_limits")
        old = before_users.get(user_id, UserLimitsView())
        new = {f: getattr(old, f) for f in (*LIMIT_FIELDS, "monthly_budget_usd")}
        for f in new:
            value = getattr(change, f)
            if not isinstance(value, msgspec.UnsetType):
                new[f] = _usd(budget_millicents(value)) if f == "monthly_budget_usd" else value
        budget = None if new["monthly_budget_usd"] is None else budget_millicents(new["monthly_budget_usd"])
        await conn.execute(
            "INSERT INTO gateway_user_limits (user_id, organization_id, rpm_limit, tpm_limit, max_parallel, "
            "monthly_budget_millicents) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id) DO UPDATE SET "
            "rpm_limit = EXCLUDED.rpm_limit, tpm_limit = EXCLUDED.tpm_limit, max_parallel = EXCLUDED.max_parallel, "
            "monthly_budget_millicents = EXCLUDED.monthly_budget_millicents, updated_at = NOW()",
            (user_id, org_id, new["rpm_limit"], new["tpm_limit"], new["max_parallel"], budget),
        )
        before = msgspec.to_builtins(old)
        if before != new:
            meta = {"before": before, "after": new}
            await conn.execute(
                _AUDIT_SQL, (actor, "user.limits_changed", "user", user_id, org_id, _json.encode(meta).decode())
            )
