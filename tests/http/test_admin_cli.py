"""``gateway org show|set|budget``: the same policy changes from the command line."""

from __future__ import annotations

import json

import pytest

from gateway.accounts import BootstrapResult
from gateway.cli import main
from tests.policy.helpers import Conn, add_spend, add_user, audit_rows


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)


def test_set_show_and_budget(env: None, org: BootstrapResult, conn: Conn, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["org", "set", "--org", "Acme", "--by", "owner@acme.test", "--tiers", "basic,standard"]
    argv += ["--budget-usd", "12.5", "--hard-limit", "--model-tier", "gpt-4.1=basic", "--model-tier", "gpt-5=disabled"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["allowed_tiers"] == ["basic", "standard"] and out["monthly_budget_usd"] == "12.50"
    assert out["model_tier_assignments"] == {"gpt-4.1": "basic", "gpt-5": None}
    assert main(["org", "set", "--org", "Acme", "--by", "owner@acme.test", "--model-tier", "gpt-5=inherit"]) == 0
    capsys.readouterr()
    assert main(["org", "show", "--org", org.organization_id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model_tier_assignments"] == {"gpt-4.1": "basic"} and shown["budget_hard_limit"] is True
    assert len(audit_rows(conn, org.organization_id, "organization.model_tiers_changed")) == 2
    add_spend(conn, org.organization_id, org.user_id, 125_000)
    assert main(["org", "budget", "--org", "acme"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["month_to_date_usd"] == "1.25" and status["percent_used"] == 10.0


def test_members_cannot_change_policy_from_the_cli(
    env: None, org: BootstrapResult, conn: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    add_user(conn, org.organization_id, "member@acme.test", "member")
    assert main(["org", "set", "--org", "Acme", "--by", "member@acme.test", "--tiers", "basic"]) == 1
    assert "not an owner or admin" in capsys.readouterr().err
    assert main(["org", "set", "--org", "Acme", "--by", "owner@acme.test", "--tiers", "gold"]) == 1
    assert "unknown tiers" in capsys.readouterr().err
    row = conn.execute("SELECT allowed_tiers FROM organizations WHERE id = %s", (org.organization_id,)).fetchone()
    assert row == (["basic", "standard", "premium"],)
