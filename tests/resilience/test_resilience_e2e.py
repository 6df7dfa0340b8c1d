"""Failures injected at the provider edge, driven through the official SDKs against the server.

Two scripted upstreams, A and B, each serving both dialects. ``gpt-5.4`` (OpenAI dialect) and
``claude-sonnet-5`` (Anthropic dialect) have a deployment on each; A carries nearly all the
weight, so the first attempt goes to A and a retry moves to B. The built-in providers (one
implicit deployment for every other model) point at A. Deadlines are set small so stalls are short.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import psycopg
import pytest
from psycopg.rows import dict_row

from gateway import accounts
from gateway.http.app import create_app
from gateway.model_tier import MODEL_TIERS
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import (
    MockUpstream,
    Script,
    anthropic_stream_events,
    openai_stream_events,
)
from tests.support.server import GatewayServer

MODELS = {"openai": "gpt-5.4", "anthropic": "claude-sonnet-5"}  # provider dialect -> model
# One implicit deployment (on A) and no fallback, per provider dialect.
LONE = {"openai": "gpt-5.4-mini", "anthropic": "claude-sonnet-4-6"}
CLIENTS = ("openai", "anthropic")
USAGE = {"input_tokens": 11, "output_tokens": 7, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


@pytest.fixture(scope="module")
def mocks() -> Iterator[tuple[MockUpstream, MockUpstream]]:
    a, b = MockUpstream().start(), MockUpstream().start()
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture(scope="module")
def server(
    migrated_db_url: str, mocks: tuple[MockUpstream, MockUpstream], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    a, b = mocks
    root = tmp_path_factory.mktemp("resilience")
    config = root / "gateway.toml"
    config.write_text(
        "\n".join(
            f'[[deployments]]\nmodel = "{model}"\nname = "{name}"\nbase_url = "{base}"\nweight = {weight}\n'
            for model, name, base, weight in [
                ("gpt-5.4", "oa-a", a.openai_base, 1_000_000),
                ("gpt-5.4", "oa-b", b.openai_base, 1),
                ("claude-sonnet-5", "an-a", a.anthropic_base, 1_000_000),
                ("claude-sonnet-5", "an-b", b.anthropic_base, 1),
            ]
        )
        + '\n[fallbacks]\n"gpt-5.4-mini" = []\n"claude-sonnet-4-6" = []\n'
    )
    settings = gateway_settings(
        migrated_db_url,
        a,
        root,
        config_path=str(config),
        first_byte_timeout_s=0.5,
        stream_idle_timeout_s=0.8,
        keepalive_s=0.15,
        retry_max_attempts=4,
        retry_backoff_base_s=0.01,
        retry_backoff_max_s=0.05,
        retry_max_wait_s=2.0,
        default_fallbacks=True,
        circuit_failures=3,
        circuit_min_requests=1000,
        circuit_cooldown_s=60.0,
    )
    gw = GatewayServer(create_app(settings)).start()
    yield gw
    gw.stop()


@pytest.fixture
def ab(server: GatewayServer, mocks: tuple[MockUpstream, MockUpstream]) -> tuple[MockUpstream, MockUpstream]:
    """Both upstreams reset, and every deployment's circuit and cool-down forgotten."""
    for m in mocks:
        m.reset()
    for deps in server.services.deployments.values():
        for d in deps:
            d.reset()
    return mocks


@pytest.fixture
def key(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return accounts.bootstrap(
            conn, org="Resilient", email="ops@resilient.test", role="owner", tiers=list(MODEL_TIERS)
        ).api_key


def error_script(provider: str, status: int, headers: dict[str, str] | None = None, **extra: Any) -> Script:
    if provider == "anthropic":
        kind = {529: "overloaded_error", 429: "rate_limit_error"}.get(status, "api_error")
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": f"injected {status}"}}
    else:
        body = {"error": {"message": f"injected {status}", "type": "server_error"}}
    body.update(extra)
    return Script(status=status, body=body, headers=headers)


def stream_script(provider: str, model: str, **kw: Any) -> Script:
    text = "one two three four five six seven eight"
    if provider == "anthropic":
        return Script(events=anthropic_stream_events(text, model, USAGE), **kw)
    return Script(events=openai_stream_events(text, model, 11, 7), **kw)


class Reply:
    def __init__(self, status: int, headers: Any, text: str) -> None:
        self.status, self.headers, self.text = status, headers, text


def call(
    server: GatewayServer,
    key: str,
    client: str,
    model: str,
    *,
    stream: bool = False,
    catch: bool = True,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request through the client's official SDK (no SDK retries); the gateway's outcome."""
    messages: Any = [{"role": "user", "content": "Say hi"}]
    try:
        if client == "openai":
            oc = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, default_headers=headers)
            raw = oc.chat.completions.with_raw_response.create(model=model, messages=messages, stream=stream)
            parsed: Any = raw.parse()
            if stream:
                text = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
            else:
                text = parsed.choices[0].message.content or ""
            return Reply(raw.http_response.status_code, raw.headers, text)
        ac = anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0, default_headers=headers)
        araw = ac.messages.with_raw_response.create(model=model, max_tokens=50, messages=messages, stream=stream)
        aparsed: Any = araw.parse()
        if stream:
            text = "".join(
                ev.delta.text for ev in aparsed if ev.type == "content_block_delta" and ev.delta.type == "text_delta"
            )
        else:
            text = aparsed.content[0].text
        return Reply(araw.http_response.status_code, araw.headers, text)
    except (openai.APIStatusError, anthropic.APIStatusError) as exc:
        if not catch:
            raise
        return Reply(exc.status_code, exc.response.headers, exc.message)


def usage_rows(server: GatewayServer, db_url: str) -> list[dict[str, Any]]:
    server.flush()
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return list(
            conn.execute(
                "SELECT model, deployment, status, request_id::text, attempt_of::text, prompt_tokens,"
                " completion_tokens, estimated_cost_millicents, usage_estimated FROM llm_usage ORDER BY created_at"
            )
        )


def price_of(server: GatewayServer, model: str, row: dict[str, Any]) -> int:
    from pricing import Usage, cost_millicents

    price = server.services.prices[model]
    assert price is not None
    usage = Usage(input_tokens=row["prompt_tokens"], output_tokens=row["completion_tokens"])
    return cost_millicents(price, usage)


# --- before the first byte ----------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("client", CLIENTS)
def test_status_before_first_byte_moves_to_the_other_deployment(
    server: GatewayServer, ab: tuple[MockUpstream, MockUpstream], key: str, db_url: str, client: str, provider: str
) -> None:
    a, b = ab
    model = MODELS[provider]
    status = 529 if provider == "anthropic" else 503
    a.scripts.append(error_script(provider, status, {"Retry-After": "5"}))
    first = call(server, key, client, model)
    assert first.status == 200 and first.text
    assert first.headers["x-gateway-attempts"] == "2"
    assert first.headers["x-gateway-model"] == model
    assert "x-gateway-fallback" not in first.headers
    assert (len(a.requests), len(b.requests)) == (1, 1)
    # A said Retry-After: 5, so it is not tried again before then: the next request goes to B.
    second = call(server, key, client, model)
    assert second.status == 200 and "x-gateway-attempts" not in second.headers
    assert (len(a.requests), len(b.requests)) == (1, 2)
    rows = usage_rows(server, db_url)
    suffix = "-b"
    assert [(r["model"], r["status"], r["deployment"][-2:]) for r in rows] == [(model, "success", suffix)] * 2


@pytest.mark.parametrize("fault", ["reset", "stall"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("client", CLIENTS)
def test_reset_or_stall_before_headers_is_retried(
    server: GatewayServer,
    ab: tuple[MockUpstream, MockUpstream],
    key: str,
    db_url: str,
    client: str,
    provider: str,
    fault: str,
) -> None:
    a, b = ab
    model = MODELS[provider]
    if fault == "reset":
        a.scripts.append(Script(reset=True))
    else:  # no headers within GATEWAY_FIRST_BYTE_TIMEOUT_S (0.5 s here)
        a.scripts.append(stream_script(provider, model, delay_s=2.0))
    reply = call(server, key, client, model, stream=True)
    assert reply.status == 200
    assert reply.text == b.text  # B's answer, streamed whole
    assert reply.headers["x-gateway-attempts"] == "2"
    assert (len(a.requests), len(b.requests)) == (1, 1)
    rows = usage_rows(server, db_url)
    assert len(rows) == 1 and rows[0]["status"] == "success" and rows[0]["deployment"].endswith("-b")


@pytest.mark.parametrize("client", CLIENTS)
def test_exhausted_deployments_fall_back_to_the_other_provider(
    server: GatewayServer, ab: tuple[MockUpstream, MockUpstream], key: str, db_url: str, client: str
) -> None:
    a, b = ab
    a.scripts.append(error_script("anthropic", 500))
    b.scripts.append(error_script("anthropic", 500))
    reply = call(server, key, client, "claude-sonnet-5")
    assert reply.status == 200 and reply.text
    assert reply.headers["x-gateway-model"] == "gpt-5.4"
    assert reply.headers["x-gateway-fallback"] == "claude-sonnet-5"
    assert reply.headers["x-gateway-attempts"] == "3"
    # The fallback spoke the OpenAI dialect to the provider, whatever the client spoke.
    assert [r.path for r in a.requests] == ["/v1/messages", "/v1/chat/completions"]
    assert [r.path for r in b.requests] == ["/v1/messages"]
    rows = usage_rows(server, db_url)
    assert len(rows) == 1
    row = rows[0]
    assert (row["model"], row["status"], row["deployment"]) == ("gpt-5.4", "success", "oa-a")
    assert row["estimated_cost_millicents"] == price_of(server, "gpt-5.4", row)


def test_auto_falls_back_within_its_complexity_and_the_decision_says_so(
    server: GatewayServer, ab: tuple[MockUpstream, MockUpstream], key: str, db_url: str
) -> None:
    a, _ = ab
    a.scripts.extend([error_script("anthropic", 500), error_script("anthropic", 500)])
    reply = call(server, key, "anthropic", "auto")
    assert reply.status == 200
    chosen = a.requests[0].body["model"]
    served = reply.headers["x-gateway-model"]
    assert served != chosen and reply.headers["x-gateway-fallback"] == chosen
    catalog = server.services.catalog
    chosen_entry, served_entry = catalog.get(chosen), catalog.get(served)
    assert chosen_entry is not None and served_entry is not None
    assert served_entry.complexity == chosen_entry.complexity and served_entry.provider != chosen_entry.provider
    server.flush()
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        d = conn.execute("SELECT selected_model, fallback_from, attempts, reasoning FROM routing_decisions").fetchone()
    assert d is not None
    assert (d["selected_model"], d["fallback_from"], d["attempts"]) == (served, chosen, 3)
    assert f"model {chosen} failed" in d["reasoning"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("client", CLIENTS)
def test_no_attempt_left_gives_the_status_with_retry_after(
    server: GatewayServer, ab: tuple[MockUpstream, MockUpstream], key: str, db_url: str, client: str, provider: str
) -> None:
    a, _ = ab
    model = LONE[provider]
    # One deployment, no fallback configured; 30 s is longer than the gateway waits.
    a.scripts.append(error_script(provider, 429, {"Retry-After": "30"}))
    reply = call(server, key, client, model)
    assert reply.status == 429
    assert reply.headers["retry-after"] == "30"
    assert len(a.requests) == 1
    # The deployment is cooling down: the gateway's own 503 says how long, and sends nothing.
    again = call(server, key, client, model)
    assert again.status == 503
    assert 28 <= int(again.headers["retry-after"]) <= 30
    assert len(a.requests) == 1
    rows = usage_rows(server, db_url)
    assert [r["status"] for r in rows] == ["error", "error"]


@pytest.mark.parametrize(("client", "provider"), [("openai", "openai"), ("anthropic", "anthropic")])
def test_a_short_retry_after_is_waited_for(
    server: GatewayServer, ab: tuple[MockUpstream, MockUpstream], key: str, client: str, provider: str
) -> None:
    a, _ = ab
    a.scripts.append(error_script(provider, 429, {"retry-after-ms": "600"}))
    reply = call(server, key, client, LONE[provider])
    assert reply.status == 200 and reply.headers["x-gateway-attempts"] == "2"
    assert len(a.requests) == 2
    # Not retried before the provider said it may be (a lower bound, whatever the load).
    assert a.requests[1].at - a.requests[0].at >= 0.6


def test_refusals_are_not_retried(server: GatewayServer, ab: tuple[MockUpstream, MockUpstream], key: str) -> None:
    a, b = ab
    a.scripts.append(error_script("openai", 400))
    reply = call(server, key, "openai", "gpt-5.4")
    assert reply.status == 400
    assert (len(a.requests), len(b.requests)) == (1, 0)


def test_a_billable_failed_attempt_gets_its_own_row(
    server: GatewayServer, ab: tuple[MockUpstream, MockUpstream], key: str, db_url: str
) -> None:
    a, _ = ab
    a.scripts.append(error_script("openai", 500, usage={"prompt_tokens": 40, "completion_tokens": 25}))
    reply = call(server, key, "openai", "gpt-5.4")
    assert reply.status == 200
    rid = reply.headers["x-request-id"]
    rows = {r["status"]: r for r in usage_rows(server, db_url)}
    assert rows["success"]["request_id"] == rid and rows["success"]["deployment"] == "oa-b"
    failed = rows["error"]
    assert failed["attempt_of"] == rid and failed["deployment"] == "oa-a"
    assert (failed["prompt_tokens"], failed["completion_tokens"]) == (40, 25)
    assert failed["estimated_cost_millicents"] == price_of(server, "gpt-5.4", failed) > 0


# --- deadlines ------------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_timeout_header_lowers_the_deadline(
    server: GatewayServer, ab: tuple[MockUpstream, MockUpstream], key: str, client: str
) -> None:
    a, _ = ab
    a.scripts.append(Script(status=200, body={}, delay_s=3.0))
    reply = call(server, key, client, "gpt-5.4-mini", headers={"X-Gateway-Timeout-Ms": "300"})
    assert reply.status == 504
    bad = call(server, key, client, "gpt-5.4-mini", headers={"X-Gateway-Timeout-Ms": "soon"})
    assert bad.status == 400 and "X-Gateway-Timeout-Ms" in bad.text


# --- after the first byte -------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["stall", "drop"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("client", CLIENTS)
def test_failure_mid_stream_ends_it_with_an_error_and_records_usage(
    server: GatewayServer,
    ab: tuple[MockUpstream, MockUpstream],
    key: str,
    db_url: str,
    client: str,
    provider: str,
    fault: str,
) -> None:
    a, b = ab
    model = MODELS[provider]
    if fault == "stall":  # silent for longer than GATEWAY_STREAM_IDLE_TIMEOUT_S (0.8 s here)
        a.scripts.append(stream_script(provider, model, stall_after=4, stall_s=3.0))
    else:
        a.scripts.append(stream_script(provider, model, break_after=4))
    # The gateway ends the stream with an error event in the client's dialect; the SDK raises it.
    with pytest.raises((openai.APIError, anthropic.APIError)):
        call(server, key, client, model, stream=True, catch=False)
    assert (len(a.requests), len(b.requests)) == (1, 0), "no retry after the first byte"
    rows = usage_rows(server, db_url)
    assert len(rows) == 1
    row = rows[0]
    assert (row["model"], row["status"], row["deployment"]) == (
        model,
        "error",
        "oa-a" if provider == "openai" else "an-a",
    )
    assert row["completion_tokens"] >= 1 and row["estimated_cost_millicents"] > 0


@pytest.mark.parametrize(("client", "frame"), [("openai", b": keep-alive"), ("anthropic", b"event: ping")])
def test_keepalives_during_an_upstream_silence(
    server: GatewayServer, ab: tuple[MockUpstream, MockUpstream], key: str, client: str, frame: bytes
) -> None:
    a, _ = ab
    # Silent for 0.6 s: more than the keep-alive interval (0.15 s), less than the idle deadline.
    a.scripts.append(stream_script("anthropic", "claude-sonnet-5", stall_after=3, stall_s=0.6))
    path = "/v1/chat/completions" if client == "openai" else "/v1/messages"
    body = {
        "model": "claude-sonnet-5",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    with httpx.stream(
        "POST", server.url + path, json=body, headers={"authorization": f"Bearer {key}"}, timeout=10
    ) as resp:
        raw = b"".join(resp.iter_bytes())
    assert resp.status_code == 200
    assert raw.count(frame) >= 1
    # The stream still completed normally after the silence.
    assert (b"[DONE]" in raw) if client == "openai" else (b"message_stop" in raw)
    # And an SDK reading the same kind of stream skips the keep-alives.
    a.scripts.append(stream_script("anthropic", "claude-sonnet-5", stall_after=3, stall_s=0.6))
    reply = call(server, key, client, "claude-sonnet-5", stream=True)
    assert reply.text == "one two three four five six seven eight"


# --- circuits -------------------------------------------------------------------------------


def test_circuit_opens_and_shows_in_metrics_and_readyz(
    server: GatewayServer, ab: tuple[MockUpstream, MockUpstream], key: str
) -> None:
    a, b = ab
    a.scripts.extend(error_script("openai", 500) for _ in range(5))
    for _ in range(3):
        assert call(server, key, "openai", "gpt-5.4").headers["x-gateway-attempts"] == "2"
    # Three consecutive failures (GATEWAY_CIRCUIT_FAILURES=3 here) opened oa-a's circuit.
    reply = call(server, key, "openai", "gpt-5.4")
    assert reply.status == 200 and "x-gateway-attempts" not in reply.headers
    assert (len(a.requests), len(b.requests)) == (3, 4)
    metrics = httpx.get(server.url + "/metrics").text
    assert 'gateway_circuit_state{deployment="oa-a",model="gpt-5.4"} 2.0' in metrics
    assert 'gateway_circuit_state{deployment="oa-b",model="gpt-5.4"} 0.0' in metrics
    assert 'gateway_upstream_attempts_total{deployment="oa-a",model="gpt-5.4",outcome="http_500"} ' in metrics
    ready = httpx.get(server.url + "/readyz").json()
    states = {(d["model"], d["deployment"]): d["circuit"] for d in ready["deployments"]}
    assert states[("gpt-5.4", "oa-a")] == "open" and states[("gpt-5.4", "oa-b")] == "closed"


def test_unknown_config_fields_are_refused(tmp_path: Path) -> None:
    from gateway.config import ConfigError, load_config

    path = tmp_path / "bad.toml"
    path.write_text('[[deployments]]\nmodel = "gpt-5.4"\nname = "x"\nwieght = 2\n')
    with pytest.raises(ConfigError, match="wieght"):
        load_config(str(path))
