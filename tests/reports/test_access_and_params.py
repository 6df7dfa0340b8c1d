"""Who sees what (two organizations, every role), and the 400s for bad parameters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import psycopg
import pytest

from tests.reports.usage_rows import People, Row, expected, insert, make_rows, observed, people
from tests.support.server import GatewayServer

START = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
RANGE = {"from": "2025-05-01", "to": "2025-05-31"}


@pytest.fixture
def seeded(conn: psycopg.Connection[Any]) -> tuple[People, list[Row]]:
    p = people(conn)
    orgs = {
        p.acme: [p.users[r] for r in ("owner", "finance", "member", "member2")],
        p.globex: [p.users["gowner"], p.users["gmember"]],
    }
    rows = make_rows(orgs, 300, START, 30, seed=3)
    insert(conn, rows)
    return p, rows


def get(gateway: GatewayServer, key: str | None, path: str = "/v1/reports/costs", **params: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.get(gateway.url + path, params=params, headers=headers, timeout=10)


@pytest.mark.parametrize("role", ["owner", "admin", "finance"])
def test_owners_admins_and_finance_see_the_whole_org(
    gateway: GatewayServer, seeded: tuple[People, list[Row]], role: str
) -> None:
    p, rows = seeded
    body = get(gateway, p.keys[role], **RANGE, group_by="user").json()
    assert observed(body) == expected(rows, p.acme, ("user",), dt.date(2025, 5, 1), dt.date(2025, 5, 31))
    assert len(body["rows"]) == 4  # every Acme user with usage, no Globex user
    one = get(gateway, p.keys[role], **RANGE, group_by="model", user_id=p.users["member"]).json()
    assert observed(one) == expected(
        rows, p.acme, ("model",), dt.date(2025, 5, 1), dt.date(2025, 5, 31), user=p.users["member"]
    )


def test_members_see_only_their_own_usage(gateway: GatewayServer, seeded: tuple[People, list[Row]]) -> None:
    p, rows = seeded
    body = get(gateway, p.keys["member"], **RANGE, group_by="user,model").json()
    assert {r["user_id"] for r in body["rows"]} == {p.users["member"]}
    assert body["user_id"] == p.users["member"]
    assert observed(body) == expected(
        rows, p.acme, ("user", "model"), dt.date(2025, 5, 1), dt.date(2025, 5, 31), user=p.users["member"]
    )
    own = get(gateway, p.keys["member"], **RANGE, user_id=p.users["member"])
    assert own.status_code == 200
    other = get(gateway, p.keys["member"], **RANGE, user_id=p.users["member2"])
    assert other.status_code == 403
    assert "own usage" in other.json()["error"]["message"]


def test_nobody_sees_another_organization(gateway: GatewayServer, seeded: tuple[People, list[Row]]) -> None:
    p, rows = seeded
    # A Globex user id passed by an Acme owner matches no Acme row.
    foreign_user = get(gateway, p.keys["owner"], **RANGE, group_by="user", user_id=p.users["gmember"])
    assert foreign_user.status_code == 200
    assert foreign_user.json()["rows"] == []
    assert foreign_user.json()["totals"]["requests"] == 0
    foreign_org = get(gateway, p.keys["owner"], **RANGE, organization_id=p.globex)
    assert foreign_org.status_code == 403
    assert get(gateway, p.keys["owner"], **RANGE, organization_id=p.acme).status_code == 200
    globex = get(gateway, p.keys["gowner"], **RANGE, group_by="user").json()
    assert {r["user_id"] for r in globex["rows"]} <= {p.users["gowner"], p.users["gmember"]}
    assert observed(globex) == expected(rows, p.globex, ("user",), dt.date(2025, 5, 1), dt.date(2025, 5, 31))
    savings = get(gateway, p.keys["gowner"], "/v1/reports/savings", **RANGE, group_by="user").json()
    assert {r["user_id"] for r in savings["rows"]} <= {p.users["gowner"], p.users["gmember"]}


def test_credentials_are_required(gateway: GatewayServer, seeded: tuple[People, list[Row]]) -> None:
    assert get(gateway, None, **RANGE).status_code == 401
    assert get(gateway, "gw-not-a-key", **RANGE).status_code == 401


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"group_by": "day,colour"}, "allowed: day, week, month, user, model, provider, tier, request_type"),
        ({"group_by": "day,day"}, "twice"),
        ({"from": "2025-13-01"}, "YYYY-MM-DD"),
        ({"from": "yesterday"}, "YYYY-MM-DD"),
        ({"from": "2025-05-10", "to": "2025-05-01"}, "before"),
        ({"from": "2024-01-01", "to": "2025-05-01"}, "at most 366 days"),
        ({"tz": "Mars/Olympus"}, "IANA time zone"),
        ({"format": "xlsx"}, "json, csv"),
        ({"user_id": "42"}, "UUID"),
        ({"colour": "red"}, "allowed: from, to, group_by, tz, format"),
    ],
)
def test_bad_parameters_get_a_400_that_says_what_is_allowed(
    gateway: GatewayServer, seeded: tuple[People, list[Row]], params: dict[str, str], needle: str
) -> None:
    p, _ = seeded
    for path in ("/v1/reports/costs", "/v1/reports/savings"):
        resp = get(gateway, p.keys["finance"], path, **({"from": "2025-05-01", "to": "2025-05-31"} | params))
        assert resp.status_code == 400, resp.text
        assert needle in resp.json()["error"]["message"]


def test_repeated_parameter_is_refused(gateway: GatewayServer, seeded: tuple[People, list[Row]]) -> None:
    p, _ = seeded
    resp = httpx.get(
        gateway.url + "/v1/reports/costs?group_by=day&group_by=model",
        headers={"authorization": f"Bearer {p.keys['owner']}"},
    )
    assert resp.status_code == 400
    assert "once" in resp.json()["error"]["message"]


def test_defaults_cover_this_month_in_utc(gateway: GatewayServer, conn: psycopg.Connection[Any]) -> None:
    p = people(conn)
    now = dt.datetime.now(dt.UTC)
    rows = [
        Row(
            p.acme,
            p.users["owner"],
            now - dt.timedelta(seconds=30),
            "gpt-5",
            "openai",
            "premium",
            "chat",
            10,
            20,
            0,
            0,
            1234,
        ),
    ]
    insert(conn, rows)
    body = get(gateway, p.keys["owner"]).json()
    assert body["from"] == now.date().replace(day=1).isoformat()
    assert body["to"] == now.date().isoformat()
    assert body["tz"] == "UTC"
    assert body["totals"]["cost_millicents"] == 1234
    assert body["totals"]["cost_usd"] == "0.01234"
