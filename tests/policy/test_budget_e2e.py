"""Monthly budgets through the running gateway: hard limits, soft limits, and concurrency."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

from gateway.accounts import BootstrapResult
from gateway.http.app import create_app
from gateway.policy.budget_state import month_of, next_month
from tests.policy.helpers import Conn, add_spend, add_user, audit_rows, budget, counter, open_lease_total
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import MockUpstream, Script, anthropic_message
from tests.support.server import GatewayServer

USAGE_500_OUT = {
    "input_tokens": 10,
    "output_tokens": 500,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}


def _messages(url: str, key: str, max_tokens: int = 600) -> httpx.Response:
    return httpx.post(
        url + "/v1/messages",
        headers={"x-api-key": key},
        json={"model": "claude-haiku-4-5", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]},
        timeout=20,
    )


def _chat(url: str, key: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100},
        timeout=20,
    )


def test_hard_limit_refuses_with_402_in_both_dialects(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    budget(conn, org.organization_id, "1.00", hard=True)
    add_spend(conn, org.organization_id, org.user_id, 99_990)  # 10 millicents of room
    resets = next_month(month_of(datetime.now(UTC))).isoformat()
    oa = _chat(gateway.url, org.api_key)
    assert oa.status_code == 402
    err = oa.json()["error"]
    assert err["type"] == "insufficient_quota" and err["code"] == "budget_exhausted"
    assert "$1.00 of its $1.00" in err["message"] and resets in err["message"]
    an = _messages(gateway.url, org.api_key)
    assert an.status_code == 402
    assert an.json()["error"]["type"] == "billing_error" and resets in an.json()["error"]["message"]
    assert not upstream.requests
    gateway.flush()
    rows = audit_rows(conn, org.organization_id, "request.refused")
    assert [r[2] for r in rows] == ["budget_exhausted", "budget_exhausted"]
    assert rows[0][3]["spent_millicents"] == 99_990 and rows[0][3]["budget_millicents"] == 100_000


def test_far_from_the_limit_needs_no_reservation_and_counts_spend(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    budget(conn, org.organization_id, "100.00", hard=True)
    for _ in range(3):
        assert _chat(gateway.url, org.api_key).status_code == 200
    gateway.flush()
    total = conn.execute(
        "SELECT SUM(estimated_cost_millicents) FROM llm_usage WHERE organization_id = %s", (org.organization_id,)
    ).fetchone()
    assert total is not None and total[0] > 0
    # Far from the limit one lease serves every request: the counter holds what it has left.
    assert counter(conn, org.organization_id) == (int(total[0]), open_lease_total(conn, "org:" + org.organization_id))
    leases = conn.execute("SELECT count(*) FROM gateway_budget_leases").fetchone()
    assert leases == (1,)
    assert conn.execute("SELECT count(*) FROM gateway_budget_reservations").fetchone() == (0,)


def test_near_the_limit_reserves_then_releases(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    budget(conn, org.organization_id, "1.00", hard=True)
    add_spend(conn, org.organization_id, org.user_id, 95_000)
    upstream.scripts.append(Script(body=anthropic_message("ok", "claude-haiku-4-5", USAGE_500_OUT)))
    assert _messages(gateway.url, org.api_key).status_code == 200
    gateway.flush()
    spent, reserved = counter(conn, org.organization_id)
    assert spent == 95_000 + 251  # 10 input at 0.1 + 500 output at 0.5 millicents
    # Near the limit the lease is small (a fraction of the 5,000 left), and what it still
    # holds is all that is reserved once the request's own hold was released.
    assert reserved == open_lease_total(conn, "org:" + org.organization_id)
    assert reserved <= (100_000 - 95_000) // 10


def test_soft_limit_lets_requests_through_and_alerts_once_per_threshold(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    budget(conn, org.organization_id, "0.01", hard=False, alert_pct=50)  # 1000 millicents
    add_user(conn, org.organization_id, "admin@acme.test", "admin")
    add_user(conn, org.organization_id, "member@acme.test", "member")
    for _ in range(6):  # ~251 each: crosses 50% on the 2nd, 100% on the 4th, then over budget
        upstream.scripts.append(Script(body=anthropic_message("ok", "claude-haiku-4-5", USAGE_500_OUT)))
        assert _messages(gateway.url, org.api_key).status_code == 200
        gateway.flush()
    alerts = conn.execute(
        "SELECT threshold_pct FROM gateway_budget_alerts WHERE organization_id = %s ORDER BY 1",
        (org.organization_id,),
    ).fetchall()
    assert alerts == [(50,), (100,)]
    emails = conn.execute(
        "SELECT recipient_email, status, metadata->>'threshold_pct', subject FROM email_logs "
        "WHERE org_id = %s AND email_type = 'budget_alert' ORDER BY (metadata->>'threshold_pct')::int, 1",
        (org.organization_id,),
    ).fetchall()
    # Owners and admins, not members; no SENDGRID_API_KEY on this server: recorded as skipped.
    assert [(e[0], e[1], e[2]) for e in emails] == [
        ("admin@acme.test", "skipped", "50"),
        ("owner@acme.test", "skipped", "50"),
        ("admin@acme.test", "skipped", "100"),
        ("owner@acme.test", "skipped", "100"),
    ]
    assert "Acme" in emails[0][3]


def test_200_concurrent_requests_on_two_processes_never_pass_the_budget(
    db_url: str, upstream: MockUpstream, org: BootstrapResult, conn: Conn, tmp_path: Path
) -> None:
    budget(conn, org.organization_id, "1.00", hard=True)
    add_spend(conn, org.organization_id, org.user_id, 99_000)  # one cent from the limit
    for _ in range(200):
        upstream.scripts.append(Script(body=anthropic_message("ok", "claude-haiku-4-5", USAGE_500_OUT), delay_s=0.5))
    servers = [GatewayServer(create_app(gateway_settings(db_url, upstream, tmp_path / name))).start() for name in "ab"]
    try:

        async def fire() -> list[int]:
            limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
            async with httpx.AsyncClient(limits=limits, timeout=60) as client:

                async def one(i: int) -> int:
                    resp = await client.post(
                        servers[i % 2].url + "/v1/messages",
                        headers={"x-api-key": org.api_key},
                        json={
                            "model": "claude-haiku-4-5",
                            "max_tokens": 600,
                            "messages": [{"role": "user", "content": f"request {i}"}],
                        },
                    )
                    return resp.status_code

                return await asyncio.gather(*(one(i) for i in range(200)))

        statuses = Counter(asyncio.run(fire()))
        for s in servers:
            s.flush()
    finally:
        for s in servers:
            s.stop()
    assert set(statuses) <= {200, 402}, statuses
    assert statuses[402] >= 180, statuses
    spent, reserved = counter(conn, org.organization_id)
    usage_total = conn.execute(
        "SELECT SUM(estimated_cost_millicents) FROM llm_usage WHERE organization_id = %s", (org.organization_id,)
    ).fetchone()
    assert usage_total is not None and spent == int(usage_total[0])  # counter and rows agree
    assert reserved == 0  # every hold released, every lease given back at shutdown
    assert open_lease_total(conn, "org:" + org.organization_id) == 0
    overshoot = spent - 100_000
    print(f"two-process run: {dict(statuses)}; spent {spent}; overshoot {overshoot}")
    # Actual costs (251) are below the worst-case estimates, so leases never let it pass.
    assert overshoot <= 0, spent
