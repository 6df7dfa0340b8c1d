"""``gateway report`` prints the HTTP report's figures; the savings SQL prices like pricing.cost."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from dataclasses import replace
from typing import Any

import httpx
import psycopg
import pytest

from gateway.catalog import Catalog
from gateway.cli import main
from gateway.config import GatewayConfig
from gateway.reports import Scope, counterfactuals, parse_query, savings_report
from gateway.services import build_prices
from pricing import ModelPrice, Usage, cost_millicents
from tests.reports.usage_rows import People, Row, insert, make_rows, people
from tests.support.server import GatewayServer

START = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
ARGS = ["--from", "2025-07-01", "--to", "2025-07-31"]


@pytest.fixture
def seeded(conn: psycopg.Connection[Any]) -> tuple[People, list[Row]]:
    p = people(conn)
    rows = make_rows({p.acme: [p.users["owner"], p.users["member"]], p.globex: [p.users["gowner"]]}, 200, START, 31)
    insert(conn, rows)
    return p, rows


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> str:
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def http(gateway: GatewayServer, key: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(gateway.url + path, params=params, headers={"authorization": f"Bearer {key}"}, timeout=10)


def test_cli_csv_and_json_equal_the_http_report(
    gateway: GatewayServer,
    seeded: tuple[People, list[Row]],
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    p, _ = seeded
    rng = {"from": "2025-07-01", "to": "2025-07-31", "group_by": "day,model,user"}
    out = cli(
        monkeypatch,
        capsys,
        db_url,
        "report",
        "costs",
        *ARGS,
        "--group-by",
        "day,model,user",
        "--org",
        "acme",
        "--format",
        "csv",
    )
    assert out.replace("\r\n", "\n") == http(
        gateway, p.keys["finance"], "/v1/reports/costs", **rng, format="csv"
    ).text.replace("\r\n", "\n")
    out = cli(
        monkeypatch,
        capsys,
        db_url,
        "report",
        "savings",
        *ARGS,
        "--group-by",
        "provider",
        "--org",
        p.acme,
        "--format",
        "json",
    )
    assert (
        json.loads(out)
        == http(gateway, p.keys["owner"], "/v1/reports/savings", **rng | {"group_by": "provider"}).json()
    )


def test_cli_table_and_user_scope(
    gateway: GatewayServer,
    seeded: tuple[People, list[Row]],
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    p, _ = seeded
    out = cli(monkeypatch, capsys, db_url, "report", "costs", *ARGS, "--group-by", "model", "--org", "Globex")
    lines = out.splitlines()
    assert lines[1].split()[:3] == ["model", "requests", "input_tokens"]
    total = http(gateway, p.keys["gowner"], "/v1/reports/costs", **{"from": "2025-07-01", "to": "2025-07-31"}).json()
    assert lines[-1].split()[0] == "TOTAL"
    assert lines[-1].split()[-1] == total["totals"]["cost_usd"]
    out = cli(
        monkeypatch,
        capsys,
        db_url,
        "report",
        "costs",
        *ARGS,
        "--org",
        "acme",
        "--user",
        "mem@acme.test",
        "--format",
        "json",
    )
    mine = http(gateway, p.keys["member"], "/v1/reports/costs", **{"from": "2025-07-01", "to": "2025-07-31"}).json()
    assert json.loads(out)["totals"] == mine["totals"]


def test_cli_refuses_bad_parameters_and_ambiguous_orgs(
    seeded: tuple[People, list[Row]], db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["report", "costs", "--group-by", "colour", "--org", "acme"]) == 2
    assert "allowed: day, week" in capsys.readouterr().err
    assert main(["report", "costs"]) == 1  # two organizations: which one?
    assert "--org" in capsys.readouterr().err


def test_savings_prices_each_auto_row_like_the_gateway(conn: psycopg.Connection[Any], db_url: str) -> None:
    """Per-row rounding, long-context prices above 200k prompt tokens, unknown providers unpriced."""
    p = people(conn)
    base = Row(p.acme, p.users["owner"], START, "", None, None, "chat", 0, 0, 0, 0, cost=500, auto=True)
    rows = [
        replace(base, model="claude-haiku-4-5", provider="anthropic", prompt=1, completion=1, cache_write=1,
                cache_read=1),
        replace(base, model="claude-sonnet-4-5", provider="anthropic", prompt=150_000, completion=900,
                cache_write=40_000, cache_read=30_000),
        replace(base, model="gpt-4o-mini", provider="openai", prompt=333, completion=77, cache_read=12),
        replace(base, model="local-llm", provider="vllm", prompt=10, completion=10),
    ]  # fmt: skip
    insert(conn, rows)
    insert(conn, [replace(base, model="gpt-4o-mini", provider="openai", prompt=5, completion=5, auto=False)])
    catalog = Catalog.with_overrides([])
    long_ctx = ModelPrice(
        input=300_000,
        output=1_500_000,
        cache_write=375_000,
        cache_read=30_000,
        input_above_200k=600_000,
        output_above_200k=2_250_000,
    )
    # The counterfactual is each provider's AUTO complex model, read from the catalog.
    complex_for = {prov: catalog.for_complexity(prov, "complex") for prov in ("anthropic", "openai")}
    ant_complex, oai_complex = complex_for["anthropic"], complex_for["openai"]
    assert ant_complex is not None and oai_complex is not None
    prices = build_prices(catalog, GatewayConfig()) | {ant_complex.id: long_ctx}
    models = counterfactuals(catalog, prices)

    async def run() -> Any:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as aconn:
            q = parse_query({"from": "2025-07-01", "to": "2025-07-01", "group_by": "model"})
            return await savings_report(aconn, Scope(p.acme), q, models)

    report = asyncio.run(run())
    by_model = {r["model"]: r for r in report.rows}
    for r in rows[:3]:
        price = long_ctx if r.provider == "anthropic" else prices[oai_complex.id]
        assert price is not None
        want = cost_millicents(
            price,
            Usage(
                input_tokens=r.prompt,
                output_tokens=r.completion,
                cache_write_tokens=r.cache_write,
                cache_read_tokens=r.cache_read,
            ),
        )
        assert by_model[r.model]["counterfactual_cost_millicents"] == want
    assert by_model["local-llm"]["counterfactual_cost_millicents"] == 500  # recorded cost kept
    assert report.totals["unpriced_requests"] == 1
    assert report.totals["requests"] == 4  # the non-AUTO row is not in the savings report


def test_csv_is_spreadsheet_safe(
    seeded: tuple[People, list[Row]], db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = cli(
        monkeypatch,
        capsys,
        db_url,
        "report",
        "costs",
        *ARGS,
        "--group-by",
        "tier,provider",
        "--org",
        "acme",
        "--format",
        "csv",
    )
    table = list(csv.reader(io.StringIO(out)))
    assert all(len(r) == len(table[0]) for r in table)
    assert any(r[0] == "" for r in table[1:])  # NULL tier -> empty cell, not "None"
    assert all(r[-1].count(".") == 1 and len(r[-1].split(".")[1]) == 5 for r in table[1:])
