"""Organizations, users and API keys, for the command line (synchronous, one transaction each).

``bootstrap`` is idempotent for the organization and the user (matched by slug and by
e-mail) and always mints a new key; key creation and revocation leave ``audit_events``
rows and tell every running gateway to drop its principal cache.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import psycopg

from gateway.auth.keys import generate_key
from gateway.model_tier import MODEL_TIERS

ROLES = ("owner", "admin", "finance", "member")
Conn = psycopg.Connection[tuple[Any, ...]]


class AccountError(ValueError):
    """A command-line request that cannot be carried out as asked."""


class BootstrapResult(msgspec.Struct):
    organization_id: str
    user_id: str
    api_key: str


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "org"


def audit(conn: Conn, user_id: str, event_type: str, resource_type: str, resource_id: str, action: str) -> None:
    conn.execute(
        "INSERT INTO audit_events (user_id, event_type, resource_type, resource_id, action) "
        "VALUES (%s, %s, %s, %s, %s)",
        (user_id, event_type, resource_type, resource_id, action),
    )


def notify_caches(conn: Conn, what: str = "principals") -> None:
    conn.execute("SELECT pg_notify('gateway_cache', %s)", (what,))


def bootstrap(
    conn: Conn,
    *,
    org: str,
    email: str,
    role: str | None = None,
    tiers: list[str] | None = None,
    budget_usd: Decimal | None = None,
    alert_pct: int | None = None,
    hard_limit: bool | None = None,
) -> BootstrapResult:
    """Create the organization and user if missing, apply the given settings, mint a key."""
    if role is not None and role not in ROLES:
        raise AccountError(f"--role must be one of {', '.join(ROLES)}")
    for t in tiers or ():
        if t not in MODEL_TIERS:
            raise AccountError(f"unknown tier {t!r}; tiers are {', '.join(MODEL_TIERS)}")
    if alert_pct is not None and not 1 <= alert_pct <= 100:
        raise AccountError("--alert-pct must be between 1 and 100")
    if budget_usd is not None and budget_usd < 0:
        raise AccountError("--budget-usd must not be negative")
    email = email.strip().lower()
    if "@" not in email:
        raise AccountError(f"{email!r} is not an e-mail address")
    slug = slugify(org)
    with conn.transaction():
        # Serialise concurrent bootstraps of the same organization.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("bootstrap:" + slug,))
        row = conn.execute(
            "SELECT id::text FROM organizations WHERE slug = %s AND deleted_at IS NULL", (slug,)
        ).fetchone()
        created_org = row is None
        if row is None:
            row = conn.execute(
                "INSERT INTO organizations (name, slug) VALUES (%s, %s) RETURNING id::text", (org, slug)
            ).fetchone()
        assert row is not None
        org_id = str(row[0])
        changes: dict[str, Any] = {}
        if tiers is not None:
            changes["allowed_tiers"] = list(tiers)
        if budget_usd is not None:
            changes["monthly_budget"] = budget_usd
        if alert_pct is not None:
            changes["budget_alert_threshold"] = alert_pct
        if hard_limit is not None:
            changes["budget_hard_limit"] = hard_limit
        for column, value in changes.items():
            conn.execute(
                psycopg.sql.SQL("UPDATE organizations SET {} = %s, updated_at = NOW() WHERE id = %s").format(
                    psycopg.sql.Identifier(column)
                ),
                (value, org_id),
            )
        urow = conn.execute(
            "SELECT id::text FROM users WHERE organization_id = %s AND lower(email) = %s AND deleted_at IS NULL",
            (org_id, email),
        ).fetchone()
        if urow is None:
            urow = conn.execute(
                "INSERT INTO users (organization_id, email, username) VALUES (%s, %s, %s) RETURNING id::text",
                (org_id, email, email.split("@", 1)[0]),
            ).fetchone()
        assert urow is not None
        user_id = str(urow[0])
        effective_role = role or ("owner" if created_org else None)
        mrow = conn.execute(
            "SELECT id::text FROM org_memberships WHERE organization_id = %s AND user_id = %s",
            (org_id, user_id),
        ).fetchone()
        if mrow is None:
            conn.execute(
                "INSERT INTO org_memberships (organization_id, user_id, role) VALUES (%s, %s, %s)",
                (org_id, user_id, effective_role or "member"),
            )
        elif effective_role is not None:
            conn.execute(
                "UPDATE org_memberships SET role = %s, updated_at = NOW() WHERE id = %s",
                (effective_role, mrow[0]),
            )
        if changes and not created_org:
            audit(conn, user_id, "organization.settings_changed", "organization", org_id, "update")
        key = create_key(conn, org_id=org_id, user_id=user_id, name="bootstrap", created_by=user_id)
        notify_caches(conn)
    return BootstrapResult(organization_id=org_id, user_id=user_id, api_key=key)


def create_key(
    conn: Conn,
    *,
    org_id: str,
    user_id: str,
    name: str = "default",
    created_by: str | None = None,
    expires_in_days: int | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    max_parallel: int | None = None,
    budget_millicents: int | None = None,
) -> str:
    """Mint and store a key; return it (the only time it exists in clear).

    The optional limits are the key's own rate limits and hard monthly budget (issue 11).
    """
    key, prefix, digest = generate_key()
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    row = conn.execute(
        "INSERT INTO gateway_api_keys (organization_id, user_id, name, prefix, key_hash, created_by, expires_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id::text",
        (org_id, user_id, name, prefix, digest, created_by, expires),
    ).fetchone()
    assert row is not None
    if any(v is not None for v in (rpm_limit, tpm_limit, max_parallel, budget_millicents)):
        for name, value in (("--rpm", rpm_limit), ("--tpm", tpm_limit), ("--max-parallel", max_parallel)):
            if value is not None and value < 1:
                raise AccountError(f"{name} must be at least 1")
        if budget_millicents is not None and budget_millicents < 0:
            raise AccountError("--budget-usd must not be negative")
        conn.execute(
            "UPDATE gateway_api_keys SET rpm_limit = %s, tpm_limit = %s, max_parallel = %s, "
            "monthly_budget_millicents = %s WHERE id = %s",
            (rpm_limit, tpm_limit, max_parallel, budget_millicents, row[0]),
        )
    audit(conn, created_by or user_id, "api_key.created", "api_key", str(row[0]), "create")
    return key


def list_keys(conn: Conn, org_id: str | None = None) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT k.id::text, k.prefix, k.name, o.name, u.email, k.created_at, k.expires_at, k.revoked_at, "
        "k.last_used_at FROM gateway_api_keys k JOIN organizations o ON o.id = k.organization_id "
        "JOIN users u ON u.id = k.user_id WHERE %s::uuid IS NULL OR k.organization_id = %s::uuid "
        "ORDER BY k.created_at",
        (org_id, org_id),
    ).fetchall()
    cols = (
        "id",
        "prefix",
        "name",
        "organization",
        "email",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    return [{c: (v.isoformat() if isinstance(v, datetime) else v) for c, v in zip(cols, r, strict=True)} for r in rows]


def revoke_key(conn: Conn, key_ref: str, *, by_user: str | None = None, org_id: str | None = None) -> str:
    """Revoke by id or public prefix (within ``org_id`` when given). Returns the key id."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE gateway_api_keys SET revoked_at = COALESCE(revoked_at, NOW()) "
            "WHERE (id::text = %s OR prefix = %s) AND (%s::uuid IS NULL OR organization_id = %s::uuid) "
            "RETURNING id::text, user_id::text",
            (key_ref, key_ref, org_id, org_id),
        ).fetchone()
        if row is None:
            raise AccountError(f"no API key with id or prefix {key_ref!r}")
        audit(conn, by_user or str(row[1]), "api_key.revoked", "api_key", str(row[0]), "revoke")
        notify_caches(conn)
    return str(row[0])


def organization_count(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM organizations WHERE deleted_at IS NULL").fetchone()
    return int(row[0]) if row else 0
