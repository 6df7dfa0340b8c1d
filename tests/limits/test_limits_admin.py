"""Setting limits: the policy endpoint, ``gateway org set`` and ``gateway keys create``."""

from __future__ import annotations

import json

import httpx
import pytest

from gateway.accounts import BootstrapResult
from gateway.cli import main
from tests.policy.helpers import Conn, add_user, audit_rows
from tests.support.server import GatewayServer


def _url(gateway: GatewayServer) -> str:
    return gateway.url + "/v1/organizations/me/policy"


def test_policy_endpoint_sets_org_and_user_limits_and_they_apply(
    gateway: GatewayServer, org: BootstrapResult, conn: Conn
) -> None:
    h = {"authorization": f"Bearer {org.api_key}"}
    change = {
        "rpm_limit": 1,
        "tpm_limit": 5000,
        "user_limits": {org.user_id: {"max_parallel": 3, "monthly_budget_usd": "2.50"}},
    }
    r = httpx.patch(_url(gateway), headers=h, json=change)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["rpm_limit"] == 1 and view["tpm_limit"] == 5000 and view["max_parallel"] is None
    assert view["user_limits"][org.user_id] == {
        "rpm_limit": None,
        "tpm_limit": None,
        "max_parallel": 3,
        "monthly_budget_usd": "2.50",
    }
    assert len(audit_rows(conn, org.organization_id, "organization.limits_changed")) == 1
    assert len(audit_rows(conn, org.organization_id, "user.limits_changed")) == 1
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}
    statuses = [httpx.post(gateway.url + "/v1/chat/completions", headers=h, json=body).status_code for _ in range(2)]
    assert statuses == [200, 429]  # the org's 1 request/min applies at once (this process invalidated)
    r = httpx.patch(_url(gateway), headers=h, json={"rpm_limit": None})
    assert r.status_code == 200 and r.json()["rpm_limit"] is None


@pytest.mark.parametrize(
    "bad",
    [{"rpm_limit": 0}, {"tpm_limit": "many"}, {"max_parallel": -1}, {"user_limits": {"x": {"rpm_limit": 0}}}],
)
def test_bad_limits_are_400(gateway: GatewayServer, org: BootstrapResult, bad: dict[str, object]) -> None:
    r = httpx.patch(_url(gateway), headers={"authorization": f"Bearer {org.api_key}"}, json=bad)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_user_of_another_org_is_404(gateway: GatewayServer, org: BootstrapResult) -> None:
    other = "00000000-0000-0000-0000-000000000001"
    r = httpx.patch(
        _url(gateway),
        headers={"authorization": f"Bearer {org.api_key}"},
        json={"user_limits": {other: {"rpm_limit": 5}}},
    )
    assert r.status_code == 404


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)


def test_cli_keys_create_with_limits_and_org_set(
    env: None, org: BootstrapResult, conn: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["keys", "create", "--email", "owner@acme.test", "--org", "Acme", "--name", "ci"]
    argv += ["--rpm", "60", "--tpm", "9000", "--max-parallel", "4", "--budget-usd", "3.5"]
    assert main(argv) == 0
    created = json.loads(capsys.readouterr().out)
    row = conn.execute(
        "SELECT rpm_limit, tpm_limit, max_parallel, monthly_budget_millicents FROM gateway_api_keys WHERE name = 'ci'"
    ).fetchone()
    assert row == (60, 9000, 4, 350_000) and created["api_key"].startswith("gw_")
    assert main(["org", "set", "--org", "Acme", "--by", "owner@acme.test", "--rpm", "100", "--max-parallel", "8"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rpm_limit"] == 100 and out["max_parallel"] == 8
    member_id, _ = add_user(conn, org.organization_id, "m@acme.test", "member")
    argv = ["org", "set", "--org", "Acme", "--by", "owner@acme.test", "--user", "m@acme.test", "--tpm", "777"]
    assert main([*argv, "--budget-usd", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["user_limits"][member_id]["tpm_limit"] == 777
    assert out["user_limits"][member_id]["monthly_budget_usd"] == "1.00"
    assert main(["org", "set", "--org", "Acme", "--by", "owner@acme.test", "--rpm", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["rpm_limit"] is None
