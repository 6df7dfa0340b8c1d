"""Reconciliation: requests through the real gateway, then every grouping of the report must sum
to the same total, equal to SUM over llm_usage, equal to a hand computation from the price table.

The hand computation is written out here with Decimal (not pricing.cost_millicents), so a bug in
the gateway's pricing and the same bug in the report cannot cancel out.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import anthropic
import httpx
import openai
import psycopg
import pytest

from gateway import accounts
from gateway.accounts import BootstrapResult
from gateway.catalog import Catalog
from gateway.reports.params import GROUP_KEYS
from pricing import PriceTable
from tests.support.mock_upstream import MockUpstream, Script, anthropic_stream_events, openai_chunk, openai_completion
from tests.support.server import GatewayServer


def _complex_models() -> dict[str, str]:
    """Each provider's AUTO complex model (the savings counterfactual), read from the built-in catalog."""
    catalog = Catalog.with_overrides([])
    picks = {p: catalog.for_complexity(p, "complex") for p in ("anthropic", "openai")}
    models = {p: m.id for p, m in picks.items() if m is not None}
    assert len(models) == len(picks), models  # both providers have a complex model to compare against
    return models


COMPLEX = _complex_models()
COMBOS = ["day,model", "user,provider,tier", "week,request_type", "month,user,model", "model,tier,provider"]


def oai(gateway: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def ant(gateway: GatewayServer, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


def hand_cost(prices: PriceTable, model: str, inp: int, out: int, cw: int, cr: int) -> int:
    """Millicents: tokens x (millicents per million tokens) / 10**6, rounded half up, per request."""
    p = prices.get(model)
    assert p is not None, model
    exact = (
        Decimal(inp) * p.input + Decimal(out) * p.output + Decimal(cw) * p.cache_write + Decimal(cr) * p.cache_read
    ) / Decimal(1_000_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def drive(gateway: GatewayServer, upstream: MockUpstream, owner: str, finance: str) -> int:
    """A known mix of requests: success (both SDKs, streamed or not), upstream 500, an upstream
    break mid-stream, a client cancel mid-stream, and AUTO requests. Returns how many were sent."""
    oai(gateway, owner).chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "a"}])
    with ant(gateway, finance).messages.stream(
        model="gpt-4.1", max_tokens=50, messages=[{"role": "user", "content": "b"}]
    ) as s:
        s.get_final_message()
    upstream.scripts.append(Script(body=openai_completion("ok", "gpt-5", 120_000, 3_000, cached=80_000)))
    oai(gateway, owner).chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "c"}])
    for _ in ant(gateway, owner).messages.create(
        model="claude-opus-4-5", max_tokens=50, messages=[{"role": "user", "content": "d"}], stream=True
    ):
        pass
    upstream.scripts.append(Script(status=500, body={"error": {"message": "boom", "type": "server_error"}}))
    with pytest.raises(openai.APIStatusError):
        oai(gateway, owner).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "e"}])
    usage = {
        "input_tokens": 900,
        "output_tokens": 40,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 70,
    }
    upstream.scripts.append(
        Script(events=anthropic_stream_events("one two three four five six", "m", usage), break_after=4)
    )
    with pytest.raises(openai.APIError):
        for _ in oai(gateway, finance).chat.completions.create(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "f"}], stream=True
        ):
            pass
    frames = [openai_chunk("gpt-4o-mini", {"role": "assistant", "content": ""})]
    frames += [openai_chunk("gpt-4o-mini", {"content": f"w{i} "}) for i in range(40)]
    upstream.scripts.append(Script(events=[*frames, b"data: [DONE]\n\n"], event_interval_s=0.05))
    stream = oai(gateway, owner).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "g"}], stream=True
    )
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    oai(gateway, finance).chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    oai(gateway, owner).chat.completions.create(model="auto", messages=[{"role": "user", "content": "thanks"}])
    ant(gateway, owner).messages.create(model="auto", max_tokens=20, messages=[{"role": "user", "content": "hey"}])
    return 10


def wait_rows(gateway: GatewayServer, conn: psycopg.Connection[Any], n: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        gateway.flush()
        row = conn.execute("SELECT count(*) FROM llm_usage").fetchone()
        if row is not None and row[0] >= n:
            return
        time.sleep(0.1)
    raise AssertionError("the gateway did not write every usage row")


def fetch(gateway: GatewayServer, key: str, path: str, group_by: str) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    params = {"from": (today - dt.timedelta(days=1)).isoformat(), "to": (today + dt.timedelta(days=1)).isoformat()}
    resp = httpx.get(
        gateway.url + path,
        params=params | {"group_by": group_by},
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


METRICS = ("requests", "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_millicents")


def test_reports_reconcile_with_llm_usage_and_the_price_table(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: psycopg.Connection[Any]
) -> None:
    fin = accounts.bootstrap(conn, org="Acme", email="fin@acme.test", role="finance")
    sent = drive(gateway, upstream, org.api_key, fin.api_key)
    wait_rows(gateway, conn, sent)

    rows = conn.execute(
        "SELECT model, provider, status, auto_routed, prompt_tokens, completion_tokens, cache_creation_tokens,"
        " cache_read_tokens, estimated_cost_millicents FROM llm_usage WHERE organization_id = %s",
        (org.organization_id,),
    ).fetchall()
    assert len(rows) == sent
    assert {r[2] for r in rows} == {"success", "error", "cancelled"}
    assert sum(1 for r in rows if r[3]) == 3
    assert any(r[6] and r[7] for r in rows)  # cache writes and reads are in the mix
    prices = PriceTable.load()
    hand = [hand_cost(prices, r[0], r[4], r[5], r[6], r[7]) for r in rows]
    assert hand == [r[8] for r in rows]  # each row priced as the price table says
    by_sql = conn.execute(
        "SELECT count(*), sum(prompt_tokens), sum(completion_tokens), sum(cache_creation_tokens),"
        " sum(cache_read_tokens), sum(estimated_cost_millicents) FROM llm_usage WHERE organization_id = %s",
        (org.organization_id,),
    ).fetchone()
    assert by_sql is not None
    want = tuple(int(v) for v in by_sql)
    assert want[5] == sum(hand) and want[5] > 0

    for group_by in [*GROUP_KEYS, *COMBOS, ""]:
        body = fetch(gateway, fin.api_key, "/v1/reports/costs", group_by)
        assert tuple(body["totals"][m] for m in METRICS) == want, group_by
        assert tuple(sum(r[m] for r in body["rows"]) for m in METRICS) == want, group_by
        assert body["totals"]["cost_usd"] == f"{Decimal(want[5]) / 100_000:.5f}"

    auto = [r for r in rows if r[3]]
    counterfactual = sum(hand_cost(prices, COMPLEX[r[1]], r[4], r[5], r[6], r[7]) for r in auto)
    actual = sum(r[8] for r in auto)
    for group_by in ("", "model", "user,provider", "day"):
        saved = fetch(gateway, fin.api_key, "/v1/reports/savings", group_by)
        t = saved["totals"]
        assert t["requests"] == 3
        assert t["cost_millicents"] == actual
        assert t["counterfactual_cost_millicents"] == counterfactual
        assert t["savings_millicents"] == counterfactual - actual > 0
        assert t["unpriced_requests"] == 0
        assert sum(r["savings_millicents"] for r in saved["rows"]) == t["savings_millicents"]
        assert saved["counterfactual_models"] == COMPLEX
