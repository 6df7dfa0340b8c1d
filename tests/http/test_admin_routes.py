"""The admin surface over HTTP: who may read and change policy, audit rows, and GET /v1/budget."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg

from gateway import accounts
from gateway.accounts import BootstrapResult
from gateway.catalog import DEFAULT_MODELS
from tests.policy.helpers import Conn, add_spend, add_user, audit_rows, budget
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


def _h(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _policy_url(gateway: GatewayServer, org_id: str) -> str:
    return f"{gateway.url}/v1/organizations/{org_id}/policy"


def test_owner_reads_and_changes_policy_and_it_applies_at_once(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    url = _policy_url(gateway, org.organization_id)
    got = httpx.get(url, headers=_h(org.api_key))
    assert got.status_code == 200
    assert got.json()["allowed_tiers"] == ["basic", "standard", "premium"]
    assert got.json()["monthly_budget_usd"] is None
    change: dict[str, Any] = {
        "allowed_tiers": ["basic"],
        "model_tier_assignments": {"gpt-4o-mini": None},
        "monthly_budget_usd": "250.50",
        "budget_hard_limit": True,
    }
    resp = httpx.patch(url, headers=_h(org.api_key), json=change)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["allowed_tiers"] == ["basic"] and body["model_tier_assignments"] == {"gpt-4o-mini": None}
    assert body["monthly_budget_usd"] == "250.50" and body["budget_hard_limit"] is True
    assert body["budget_alert_threshold"] == 80  # untouched
    models = httpx.get(gateway.url + "/v1/models", headers=_h(org.api_key)).json()["data"]
    basic_left = {m.id for m in DEFAULT_MODELS if m.tier == "basic" and m.id != "gpt-4o-mini"}
    assert "claude-haiku-4-5" in basic_left
    assert {m["id"] for m in models} == basic_left | {"auto"}
    events = {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT event_type, metadata FROM audit_events "
            "WHERE organization_id = %s AND resource_type = 'organization'",
            (org.organization_id,),
        ).fetchall()
    }
    assert set(events) == {
        "organization.tiers_changed",
        "organization.model_tiers_changed",
        "organization.budget_changed",
    }
    assert events["organization.budget_changed"]["before"] == {"monthly_budget_usd": None, "budget_hard_limit": False}
    assert events["organization.budget_changed"]["after"] == {"monthly_budget_usd": "250.50", "budget_hard_limit": True}


def test_members_and_other_organizations_are_refused(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn, db_url: str
) -> None:
    _, member_key = add_user(conn, org.organization_id, "member@acme.test", "member")
    _, admin_key = add_user(conn, org.organization_id, "admin@acme.test", "admin")
    with psycopg.connect(db_url, autocommit=True) as c:
        other = accounts.bootstrap(c, org="Globex", email="boss@globex.test", role="owner")
    mine = _policy_url(gateway, org.organization_id)
    for method in ("GET", "PATCH"):
        r = httpx.request(method, mine, headers=_h(member_key), json={"allowed_tiers": ["basic"]})
        assert r.status_code == 403 and r.json()["error"]["code"] == "admin_required"
        r = httpx.request(method, mine, headers=_h(other.api_key), json={"allowed_tiers": ["basic"]})
        assert r.status_code == 403 and r.json()["error"]["code"] == "other_organization"
    # An admin may; 'me' names their own organization.
    r = httpx.patch(_policy_url(gateway, "me"), headers=_h(admin_key), json={"budget_alert_threshold": 90})
    assert r.status_code == 200 and r.json()["budget_alert_threshold"] == 90
    row = conn.execute(
        "SELECT allowed_tiers, budget_alert_threshold FROM organizations WHERE id = %s", (org.organization_id,)
    ).fetchone()
    assert row == (["basic", "standard", "premium"], 90)
    untouched = conn.execute(
        "SELECT budget_alert_threshold FROM organizations WHERE id = %s", (other.organization_id,)
    ).fetchone()
    assert untouched == (80,)
    assert audit_rows(conn, other.organization_id, "organization.budget_changed") == []


def test_invalid_changes_are_400_and_change_nothing(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    url = _policy_url(gateway, org.organization_id)
    for bad in (
        {"allowed_tiers": ["gold"]},
        {"model_tier_assignments": {"no-such-model": "basic"}},
        {"model_tier_assignments": {"gpt-5": "platinum"}},
        {"budget_alert_threshold": 0},
        {"monthly_budget_usd": "-1"},
        {"unknown_field": 1},
    ):
        r = httpx.patch(url, headers=_h(org.api_key), json=bad)
        assert r.status_code == 400, (bad, r.text)
    assert audit_rows(conn, org.organization_id, "organization.tiers_changed") == []


def test_budget_status_for_finance_not_members(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    budget(conn, org.organization_id, "10.00", hard=True, alert_pct=75)
    add_spend(conn, org.organization_id, org.user_id, 250_000)  # $2.50 so far
    _, finance_key = add_user(conn, org.organization_id, "cfo@acme.test", "finance")
    _, member_key = add_user(conn, org.organization_id, "member@acme.test", "member")
    assert httpx.get(gateway.url + "/v1/budget", headers=_h(member_key)).status_code == 403
    r = httpx.get(gateway.url + "/v1/budget", headers=_h(finance_key))
    assert r.status_code == 200
    b = r.json()
    assert b["month_to_date_millicents"] == 250_000 and b["month_to_date_usd"] == "2.50"
    assert b["budget_usd"] == "10.00" and b["percent_used"] == 25.0
    assert b["alert_threshold"] == 75 and b["hard_limit"] is True and b["reserved_millicents"] == 0
    # All spend happened just now, so the run rate is $2.50 per (minimum one) day.
    assert b["daily_run_rate_usd"] == "2.50"
    assert b["projected_month_end_millicents"] >= 250_000
    assert b["resets_on"] > b["month"]


def test_policy_change_reaches_other_processes_through_notify(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    # Warm this org's principal in the cache, then change the policy through the API.
    assert httpx.get(gateway.url + "/v1/models", headers=_h(org.api_key)).status_code == 200
    r = httpx.patch(_policy_url(gateway, "me"), headers=_h(org.api_key), json={"allowed_tiers": ["premium"]})
    assert r.status_code == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ids = {m["id"] for m in httpx.get(gateway.url + "/v1/models", headers=_h(org.api_key)).json()["data"]}
        if "claude-haiku-4-5" not in ids:
            break
        time.sleep(0.05)
    premium = {m.id for m in DEFAULT_MODELS if m.tier == "premium"}
    assert {"claude-opus-4-5", "gpt-5"} <= premium
    assert ids == premium | {"auto"}
