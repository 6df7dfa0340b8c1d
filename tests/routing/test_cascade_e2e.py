"""Cascade mode end to end: the official SDKs against a gateway whose upstream answers each model.

Drafters are ``gpt-5.4-mini`` (OpenAI) and ``claude-haiku-4-5`` (Anthropic, so one draft is
translated); escalation goes to the complex-tier model of the client's dialect.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import anthropic
import httpx
import openai
import psycopg
import pytest

from gateway.accounts import BootstrapResult
from gateway.http.app import create_app
from tests.policy.helpers import budget, counter
from tests.routing.helpers import decision_row
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import MockUpstream, Script
from tests.support.server import GatewayServer

DRAFTERS = ("gpt-5.4-mini", "claude-haiku-4-5")
QUESTION = "Which is right? A) Ian B) Dennis. Answer with the letter."


@pytest.fixture(scope="module")
def cascade_gw(
    migrated_db_url: str, mock_provider: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    data = tmp_path_factory.mktemp("gw-cascade")
    config = Path(data) / "gateway.toml"
    config.write_text('[router.cascade]\ndrafters = ["gpt-5.4-mini", "claude-haiku-4-5"]\n')
    settings = gateway_settings(migrated_db_url, mock_provider, data, config_path=str(config))
    server = GatewayServer(create_app(settings)).start()
    yield server
    server.stop()


def usage_rows(db_url: str, org_id: str) -> list[tuple[str, str, int]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT model, status, estimated_cost_millicents FROM llm_usage WHERE organization_id = %s ORDER BY model",
            (org_id,),
        ).fetchall()
    return [(str(m), str(s), int(c)) for m, s, c in rows]


def openai_ask(gw: GatewayServer, key: str, *, stream: bool = False) -> tuple[str, Mapping[str, str]]:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
    extra = {"X-Gateway-Route-Mode": "cascade"}
    if stream:
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, stream=True, extra_headers=extra
        )
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        return text, raw.headers
    done = client.chat.completions.with_raw_response.create(model="auto", messages=messages, extra_headers=extra)
    return done.parse().choices[0].message.content or "", done.headers


def upstream_models(upstream: MockUpstream) -> list[str]:
    return sorted(str(r.body.get("model")) for r in upstream.requests)


def test_agreeing_drafts_are_returned_without_escalation(
    cascade_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    upstream.replies.update({"gpt-5.4-mini": "B", "claude-haiku-4-5": "B\n"})
    text, headers = openai_ask(cascade_gw, org.api_key)
    assert text == "B", (upstream_models(upstream), dict(headers))
    assert headers["x-gateway-cascade"] == "accepted"
    assert upstream_models(upstream) == sorted(DRAFTERS)
    assert all(r.body.get("stream") is not True for r in upstream.requests)  # drafts are whole answers
    cascade_gw.flush()
    row = decision_row(db_url, headers["x-request-id"])
    assert row["score"] < 50 and row["reasoning"].startswith("cascade: 2 drafts agree on choice B")
    assert row["selected_model"] == "gpt-5.4-mini"
    rows = usage_rows(db_url, org.organization_id)
    assert [(m, s) for m, s, _ in rows] == [("claude-haiku-4-5", "success"), ("gpt-5.4-mini", "success")]
    assert row["estimated_cost_millicents"] == sum(c for _, _, c in rows)


def test_disagreeing_drafts_escalate(
    cascade_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    upstream.replies.update({"gpt-5.4-mini": "A", "claude-haiku-4-5": "B", "gpt-5.5": "B, because Dennis enjoyed it."})
    text, headers = openai_ask(cascade_gw, org.api_key)
    assert text == "B, because Dennis enjoyed it."
    assert "x-gateway-cascade" not in headers
    assert headers["x-gateway-model"] == "gpt-5.5"
    assert upstream_models(upstream) == sorted([*DRAFTERS, "gpt-5.5"])
    cascade_gw.flush()
    row = decision_row(db_url, headers["x-request-id"])
    assert row["score"] >= 90 and "disagree on choice: A, B" in row["reasoning"]
    assert row["selected_model"] == "gpt-5.5" and row["tier"] == "complex"
    assert [m for m, _, _ in usage_rows(db_url, org.organization_id)] == ["claude-haiku-4-5", "gpt-5.4-mini", "gpt-5.5"]


def test_a_failing_drafter_is_survived(
    cascade_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    upstream.replies.update(
        {"gpt-5.4-mini": "B", "claude-haiku-4-5": Script(status=500, body={"error": {"message": "boom"}})}
    )
    text, headers = openai_ask(cascade_gw, org.api_key)
    assert text == "B"
    cascade_gw.flush()
    row = decision_row(db_url, headers["x-request-id"])
    assert row["reasoning"].startswith("cascade: 1 drafter(s) failed")
    statuses = {m: s for m, s, _ in usage_rows(db_url, org.organization_id)}
    assert statuses == {"claude-haiku-4-5": "error", "gpt-5.4-mini": "success"}


def test_every_drafter_failing_escalates(
    cascade_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    failing = Script(status=500, body={"error": {"message": "boom"}})
    upstream.replies.update({"gpt-5.4-mini": failing, "claude-haiku-4-5": failing, "gpt-5.5": "escalated"})
    text, headers = openai_ask(cascade_gw, org.api_key)
    assert text == "escalated"
    cascade_gw.flush()
    assert "no draft succeeded" in decision_row(db_url, headers["x-request-id"])["reasoning"]


@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_streaming_clients_get_the_chosen_draft_as_a_stream(
    cascade_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, client: str
) -> None:
    upstream.replies.update({"gpt-5.4-mini": "B", "claude-haiku-4-5": "B"})
    headers: Mapping[str, str]
    if client == "openai":
        text, headers = openai_ask(cascade_gw, org.api_key, stream=True)
    else:
        sdk = anthropic.Anthropic(base_url=cascade_gw.url, api_key=org.api_key, max_retries=0)
        events = sdk.messages.with_raw_response.create(
            model="auto",
            max_tokens=64,
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            extra_headers={"X-Gateway-Route-Mode": "cascade"},
        )
        headers = events.headers
        text = "".join(
            e.delta.text for e in events.parse() if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
    assert text == "B"
    assert headers["x-gateway-cascade"] == "accepted"
    cascade_gw.flush()
    assert decision_row(db_url, headers["x-request-id"])["score"] < 50


def test_budget_counts_every_call(
    cascade_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        budget(conn, org.organization_id, "100", hard=True)
    upstream.replies.update({"gpt-5.4-mini": "A", "claude-haiku-4-5": "B", "gpt-5.5": "B"})
    openai_ask(cascade_gw, org.api_key)
    cascade_gw.flush()
    rows = usage_rows(db_url, org.organization_id)
    assert len(rows) == 3 and all(c > 0 for _, _, c in rows)
    with psycopg.connect(db_url) as conn:
        spent, reserved = counter(conn, org.organization_id)
    assert spent == sum(c for _, _, c in rows)
    # What stays reserved is only this process's open lease of headroom (budget leases), none
    # of the three calls' own holds.
    with psycopg.connect(db_url) as conn:
        open_leases = conn.execute(
            "SELECT COALESCE(SUM(amount_millicents), 0) FROM gateway_budget_leases "
            "WHERE released_at IS NULL AND scope = %s AND holder NOT LIKE 'request:%%'",
            (f"org:{org.organization_id}",),
        ).fetchone()
    assert open_leases is not None and reserved == int(open_leases[0])
    assert cascade_gw.services.budget.inflight_millicents(org.organization_id) == 0  # type: ignore[attr-defined]


def test_route_mode_header_is_checked(cascade_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult) -> None:
    r = httpx.post(
        cascade_gw.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {org.api_key}", "X-Gateway-Route-Mode": "fancy"},
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_route_mode"
    # Without the header the stored config's mode (score by default) applies: one call.
    r = httpx.post(
        cascade_gw.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {org.api_key}"},
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200 and len(upstream.requests) == 1


@pytest.fixture(scope="module")
def judged_gw(
    migrated_db_url: str, mock_provider: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    data = tmp_path_factory.mktemp("gw-judged")
    config = Path(data) / "gateway.toml"
    config.write_text(
        '[router.cascade]\ndrafters = ["gpt-5.4-mini", "claude-haiku-4-5"]\n'
        'judge = "gpt-5.4"\nescalate_to = "gpt-5.5"\n'
    )
    server = GatewayServer(create_app(gateway_settings(migrated_db_url, mock_provider, data, config_path=str(config))))
    yield server.start()
    server.stop()


LONG_A = " ".join(["Paris is the capital of France and sits on the Seine river in the north."] * 5)
LONG_B = " ".join(["France has Paris as its capital city, a large city on the river Seine."] * 5)


@pytest.mark.parametrize(("verdict", "escalated"), [("VERDICT: PASS - fine", False), ("VERDICT: FAIL - wrong", True)])
def test_long_drafts_go_to_the_judge(
    judged_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, verdict: str, escalated: bool
) -> None:
    upstream.replies.update({"gpt-5.4-mini": LONG_A, "claude-haiku-4-5": LONG_B, "gpt-5.4": verdict, "gpt-5.5": "big"})
    text, headers = openai_ask(judged_gw, org.api_key)
    assert text == ("big" if escalated else LONG_A)
    judge_request = next(r for r in upstream.requests if r.body.get("model") == "gpt-5.4")
    assert "Draft 2:" in judge_request.body["messages"][-1]["content"]
    judged_gw.flush()
    row = decision_row(db_url, headers["x-request-id"])
    assert ("judge says FAIL" if escalated else "judge says PASS") in row["reasoning"]
    models = [m for m, _, _ in usage_rows(db_url, org.organization_id)]
    assert models == sorted(["gpt-5.4-mini", "claude-haiku-4-5", "gpt-5.4", *(["gpt-5.5"] if escalated else [])])


def test_a_drafter_past_the_deadline_fails_alone(
    cascade_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    # The first drafter is the request's own first call, drafted in a task of its own: its
    # deadline alarm must end that draft, not the request (whose other draft answered).
    upstream.replies.update({"gpt-5.4-mini": Script(body=None, delay_s=3.0), "claude-haiku-4-5": "B"})
    client = openai.OpenAI(base_url=cascade_gw.url + "/v1", api_key=org.api_key, max_retries=0)
    done = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": QUESTION}],
        extra_headers={"X-Gateway-Route-Mode": "cascade", "X-Gateway-Timeout-Ms": "1000"},
    )
    assert done.parse().choices[0].message.content == "B"
    cascade_gw.flush()
    row = decision_row(db_url, done.headers["x-request-id"])
    assert row["reasoning"].startswith("cascade: 1 drafter(s) failed")
    statuses = {m: s for m, s, _ in usage_rows(db_url, org.organization_id)}
    assert statuses == {"claude-haiku-4-5": "success", "gpt-5.4-mini": "error"}
