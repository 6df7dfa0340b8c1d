"""GET /v1/reports/costs against known llm_usage rows: every grouping, CSV, time zones."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from typing import Any

import httpx
import psycopg
import pytest

from gateway.reports.params import GROUP_KEYS
from tests.reports.usage_rows import People, Row, expected, insert, make_rows, observed, people
from tests.support.server import GatewayServer

START = dt.datetime(2025, 2, 20, tzinfo=dt.UTC)
FIRST, LAST = dt.date(2025, 2, 22), dt.date(2025, 3, 20)  # a range that cuts into the data on both sides


@pytest.fixture
def seeded(conn: psycopg.Connection[Any]) -> tuple[People, list[Row]]:
    p = people(conn)
    orgs = {
        p.acme: [p.users[r] for r in ("owner", "finance", "member", "member2")],
        p.globex: [p.users["gowner"], p.users["gmember"]],
    }
    rows = make_rows(orgs, 600, START, 40)
    insert(conn, rows)
    return p, rows


def get(gateway: GatewayServer, key: str, **params: str) -> httpx.Response:
    return httpx.get(
        gateway.url + "/v1/reports/costs", params=params, headers={"authorization": f"Bearer {key}"}, timeout=10
    )


def report(gateway: GatewayServer, key: str, group_by: str, tz: str = "UTC", **extra: str) -> dict[str, Any]:
    resp = get(
        gateway, key, **{"from": FIRST.isoformat(), "to": LAST.isoformat(), "group_by": group_by, "tz": tz}, **extra
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


GROUPINGS = [(k,) for k in GROUP_KEYS] + [("day", "model"), ("month", "provider", "tier"), ("user", "request_type"), ()]


@pytest.mark.parametrize("group_by", GROUPINGS, ids=lambda g: ",".join(g) or "none")
def test_each_grouping_matches_the_rows(
    gateway: GatewayServer, seeded: tuple[People, list[Row]], group_by: tuple[str, ...]
) -> None:
    p, rows = seeded
    body = report(gateway, p.keys["finance"], ",".join(group_by))
    want = expected(rows, p.acme, group_by, FIRST, LAST)
    assert observed(body) == want
    assert body["source"] == "llm_usage_hourly"
    totals = [sum(v[i] for v in want.values()) for i in range(6)]
    t = body["totals"]
    assert [
        t["requests"],
        t["input_tokens"],
        t["output_tokens"],
        t["cache_write_tokens"],
        t["cache_read_tokens"],
        t["cost_millicents"],
    ] == totals
    assert t["total_tokens"] == sum(totals[1:5])
    assert t["cost_usd"] == f"{totals[5] // 100000}.{totals[5] % 100000:05d}"
    for row in body["rows"]:
        assert row["cost_usd"] == f"{row['cost_millicents'] // 100000}.{row['cost_millicents'] % 100000:05d}"


def test_user_rows_carry_the_email(gateway: GatewayServer, seeded: tuple[People, list[Row]]) -> None:
    p, _ = seeded
    body = report(gateway, p.keys["owner"], "user")
    emails = {r["user_id"]: r["user_email"] for r in body["rows"]}
    assert emails[p.users["finance"]] == "fin@acme.test"
    assert emails[p.users["member"]] == "mem@acme.test"


@pytest.mark.parametrize(
    ("tz", "source"),
    [("America/New_York", "llm_usage_hourly"), ("Asia/Kolkata", "llm_usage"), ("Australia/Adelaide", "llm_usage")],
)
def test_days_cut_at_local_midnight(
    gateway: GatewayServer, seeded: tuple[People, list[Row]], tz: str, source: str
) -> None:
    p, rows = seeded
    for group_by in (("day",), ("week", "model"), ("month", "user")):
        body = report(gateway, p.keys["admin"], ",".join(group_by), tz=tz)
        assert body["source"] == source
        assert observed(body) == expected(rows, p.acme, group_by, FIRST, LAST, tz)


def test_csv_has_a_header_and_the_same_figures(gateway: GatewayServer, seeded: tuple[People, list[Row]]) -> None:
    p, rows = seeded
    resp = get(
        gateway,
        p.keys["finance"],
        **{"from": FIRST.isoformat(), "to": LAST.isoformat()},
        group_by="day,user,provider",
        format="csv",
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(resp.text)))
    assert table[0] == [
        "day",
        "user_id",
        "user_email",
        "provider",
        "requests",
        "input_tokens",
        "output_tokens",
        "cache_write_tokens",
        "cache_read_tokens",
        "total_tokens",
        "cost_millicents",
        "cost_usd",
    ]
    got = {(r[0], r[1], r[3] or None): tuple(int(x) for x in (r[4], r[5], r[6], r[7], r[8], r[10])) for r in table[1:]}
    assert got == expected(rows, p.acme, ("day", "user", "provider"), FIRST, LAST)
    json_body = report(gateway, p.keys["finance"], "day,user,provider")
    assert len(table) - 1 == len(json_body["rows"])
    assert sum(int(r[10]) for r in table[1:]) == json_body["totals"]["cost_millicents"]


def test_rollup_equals_llm_usage_after_update_delete_and_truncate(
    conn: psycopg.Connection[Any], seeded: tuple[People, list[Row]]
) -> None:
    """The triggers keep the hourly rollup equal to SUM over llm_usage, whoever writes."""
    keys = "organization_id, date_trunc('hour', created_at, 'UTC'), user_id, model, COALESCE(provider, ''),"
    keys += " COALESCE(tier, ''), request_type, auto_routed"
    raw_sql = (
        f"SELECT {keys}, count(*), sum(prompt_tokens), sum(completion_tokens), sum(cache_creation_tokens),"
        f" sum(cache_read_tokens), sum(estimated_cost_millicents) FROM llm_usage GROUP BY 1,2,3,4,5,6,7,8"
    )
    rollup_sql = (
        "SELECT organization_id, hour, user_id, model, provider, tier, request_type, auto_routed, requests,"
        " prompt_tokens, completion_tokens, cache_creation_tokens, cache_read_tokens, cost_millicents"
        " FROM llm_usage_hourly"
    )

    def same() -> None:
        assert sorted(conn.execute(raw_sql).fetchall()) == sorted(conn.execute(rollup_sql).fetchall())

    same()
    conn.execute(
        "UPDATE llm_usage SET estimated_cost_millicents = estimated_cost_millicents + 1, model = 'x'"
        " WHERE prompt_tokens % 3 = 0"
    )
    same()
    conn.execute("DELETE FROM llm_usage WHERE prompt_tokens % 5 = 0")
    same()
    conn.execute("SET TIME ZONE 'Asia/Kolkata'")  # buckets stay UTC hours whatever the session zone
    insert(conn, make_rows({seeded[0].acme: [seeded[0].users["owner"]]}, 50, START, 3, seed=11))
    same()
    conn.execute("TRUNCATE llm_usage CASCADE")
    assert conn.execute("SELECT count(*) FROM llm_usage_hourly").fetchone() == (0,)


@pytest.mark.parametrize("group_by", [",".join(c) for c in itertools.combinations(("day", "model", "tier"), 2)])
def test_every_grouping_sums_to_the_same_total(
    gateway: GatewayServer, seeded: tuple[People, list[Row]], group_by: str
) -> None:
    p, _ = seeded
    assert report(gateway, p.keys["owner"], group_by)["totals"] == report(gateway, p.keys["owner"], "")["totals"]
