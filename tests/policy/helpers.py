"""Shared set-up for policy tests: users, groups, org settings and spend, written with SQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from gateway import accounts
from gateway.accounts import BootstrapResult
from gateway.store.records import BudgetHold, UsageRecord

Conn = psycopg.Connection[tuple[Any, ...]]


def set_org(conn: Conn, org_id: str, **columns: Any) -> None:
    for column, value in columns.items():
        if column == "model_tier_assignments":
            value = msgspec.json.encode(value).decode()
        conn.execute(
            sql.SQL("UPDATE organizations SET {} = %s WHERE id = %s").format(sql.Identifier(column)), (value, org_id)
        )


def add_user(conn: Conn, org_id: str, email: str, role: str) -> tuple[str, str]:
    """A user with ``role`` in the organization and an API key: (user_id, api_key)."""
    row = conn.execute(
        "INSERT INTO users (organization_id, email, username) VALUES (%s, %s, %s) RETURNING id::text",
        (org_id, email, email.split("@")[0]),
    ).fetchone()
    assert row is not None
    user_id = str(row[0])
    conn.execute(
        "INSERT INTO org_memberships (organization_id, user_id, role) VALUES (%s, %s, %s)", (org_id, user_id, role)
    )
    with conn.transaction():
        key = accounts.create_key(conn, org_id=org_id, user_id=user_id)
    return user_id, key


def add_group(
    conn: Conn, org_id: str, name: str, members: list[str], tiers: list[str] | None = None, prompt: str | None = None
) -> str:
    row = conn.execute(
        "INSERT INTO groups (organization_id, name, allowed_tiers, system_prompt) VALUES (%s, %s, %s, %s) "
        "RETURNING id::text",
        (org_id, name, tiers, prompt),
    ).fetchone()
    assert row is not None
    for user_id in members:
        conn.execute("INSERT INTO group_memberships (group_id, user_id) VALUES (%s, %s)", (row[0], user_id))
    return str(row[0])


def add_spend(conn: Conn, org_id: str, user_id: str, millicents: int, at: datetime | None = None) -> None:
    """An llm_usage row written behind the gateway's back (e.g. by the main application)."""
    conn.execute(
        "INSERT INTO llm_usage (organization_id, user_id, model, estimated_cost_millicents, created_at, request_id) "
        "VALUES (%s, %s, 'claude-haiku-4-5', %s, %s, %s)",
        (org_id, user_id, millicents, at or datetime.now(UTC), str(uuid.uuid4())),
    )


def budget(conn: Conn, org_id: str, usd: str, *, hard: bool, alert_pct: int = 80) -> None:
    set_org(conn, org_id, monthly_budget=Decimal(usd), budget_hard_limit=hard, budget_alert_threshold=alert_pct)


def counter(conn: Conn, org_id: str) -> tuple[int, int]:
    row = conn.execute(
        "SELECT spent_millicents, reserved_millicents FROM gateway_budget_counters "
        "WHERE organization_id = %s AND month = date_trunc('month', NOW() AT TIME ZONE 'UTC')::date",
        (org_id,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def audit_rows(conn: Conn, org_id: str, event_type: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT user_id, resource_id, action, metadata FROM audit_events WHERE organization_id = %s "
        "AND event_type = %s ORDER BY created_at",
        (org_id, event_type),
    ).fetchall()


def open_lease_total(conn: Conn, scope: str) -> int:
    """What the open budget leases of ``scope`` still hold."""
    row = conn.execute(
        "SELECT COALESCE(SUM(amount_millicents), 0) FROM gateway_budget_leases "
        "WHERE scope = %s AND released_at IS NULL",
        (scope,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def usage_record(
    org: BootstrapResult,
    cost: int,
    *holds: BudgetHold,
    at: datetime | None = None,
    reserved: int = 0,
) -> UsageRecord:
    """A claude-haiku-4-5 usage row of ``org``'s user, costing ``cost`` millicents, with a fresh id."""
    return UsageRecord(
        request_id=str(uuid.uuid4()),
        organization_id=org.organization_id,
        user_id=org.user_id,
        model="claude-haiku-4-5",
        provider="anthropic",
        tier="basic",
        created_at=(at or datetime.now(UTC)).isoformat(),
        cost_millicents=cost,
        reserved_millicents=reserved,
        holds=holds,
    )
