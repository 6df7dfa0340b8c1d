"""Operations endpoints, the bootstrap command, configuration decoding, and metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import psycopg
import pytest

from gateway.accounts import BootstrapResult
from gateway.config import ConfigError, load_config
from gateway.http.app import create_app
from gateway.settings import Settings
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer

REPO = Path(__file__).resolve().parents[2]


def run_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_bootstrap_prints_one_json_object_and_is_idempotent(
    db_url: str, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    args = (
        "bootstrap",
        "--org",
        "Initech",
        "--email",
        "Peter@Initech.test",
        "--tiers",
        "basic,standard",
        "--budget-usd",
        "250",
        "--alert-pct",
        "75",
        "--hard-limit",
    )
    first = run_cli(db_url, *args)
    assert first.returncode == 0, first.stderr
    lines = [ln for ln in first.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1
    one = json.loads(lines[0])
    assert set(one) == {"organization_id", "user_id", "api_key"}
    assert one["api_key"].startswith("gw_")
    second = json.loads(run_cli(db_url, *args).stdout)
    assert (second["organization_id"], second["user_id"]) == (one["organization_id"], one["user_id"])
    assert second["api_key"] != one["api_key"]  # always a new key
    org = conn.execute(
        "SELECT allowed_tiers, monthly_budget::text, budget_alert_threshold, budget_hard_limit FROM organizations"
    ).fetchall()
    assert org == [(["basic", "standard"], "250.00", 75, True)]
    assert conn.execute("SELECT role FROM org_memberships").fetchall() == [("owner",)]
    keys = conn.execute("SELECT count(*), count(DISTINCT key_hash) FROM gateway_api_keys").fetchone()
    assert keys == (2, 2)
    # The key itself is never stored.
    stored = conn.execute("SELECT key_hash FROM gateway_api_keys").fetchall()
    digests = [h for (h,) in stored if isinstance(h, bytes)]
    assert len(digests) == 2
    assert all(len(d) == 32 and one["api_key"].encode() not in d for d in digests)
    assert conn.execute("SELECT count(*) FROM audit_events WHERE event_type = 'api_key.created'").fetchone() == (2,)
    # A second user joins the same organization as a member unless told otherwise.
    other = json.loads(run_cli(db_url, "bootstrap", "--org", "Initech", "--email", "milton@initech.test").stdout)
    assert other["organization_id"] == one["organization_id"]
    role = conn.execute("SELECT role FROM org_memberships WHERE user_id = %s", (other["user_id"],)).fetchone()
    assert role == ("member",)
    bad = run_cli(db_url, "bootstrap", "--org", "Initech", "--email", "x@initech.test", "--tiers", "gold")
    assert bad.returncode == 1
    assert "unknown tier" in bad.stderr


def test_keys_list_and_revoke_by_prefix(db_url: str, org: BootstrapResult) -> None:
    listed = [json.loads(ln) for ln in run_cli(db_url, "keys", "list").stdout.splitlines()]
    assert [k["prefix"] for k in listed] == [org.api_key.split("_")[1]]
    assert all("key_hash" not in k for k in listed)
    revoked = run_cli(db_url, "keys", "revoke", listed[0]["prefix"])
    assert revoked.returncode == 0
    again = [json.loads(ln) for ln in run_cli(db_url, "keys", "list").stdout.splitlines()]
    assert again[0]["revoked_at"] is not None


def test_readiness_fails_when_the_database_is_down(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:1/none?connect_timeout=1", data_dir=str(tmp_path), simulator="on"
    )
    server = GatewayServer(create_app(settings)).start()
    try:
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
        ready = httpx.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert "unreachable" in ready.json()["database"]
        # A request that needs the database gets a clean error, not a 500 or a hang.
        resp = httpx.post(
            server.url + "/v1/chat/completions",
            headers={"authorization": "Bearer gw_abcdefgh_x"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
            timeout=30,
        )
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"]["type"] == "server_error"
        # The gateway's own 503s say when to come back (GATEWAY_SERVICE_RETRY_AFTER_S).
        assert resp.headers["retry-after"] == "2"
        assert ready.headers["retry-after"] == "2"
    finally:
        server.stop()


def test_readiness_reports_pending_migrations(gateway: GatewayServer, db_url: str) -> None:
    assert httpx.get(gateway.url + "/readyz", timeout=10).json()["status"] == "ready"
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(
            "UPDATE gateway_schema_migrations SET checksum = 'x' WHERE filename = '0102_gateway_router_config.sql'"
        )
    try:
        r = httpx.get(gateway.url + "/readyz", timeout=10)
        assert r.status_code == 503
        assert r.json()["pending_migrations"] == ["0102_gateway_router_config.sql"]
    finally:
        from gateway.db.migrate import Migration, discover

        m: Migration = next(x for x in discover() if x.name == "0102_gateway_router_config.sql")
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute("UPDATE gateway_schema_migrations SET checksum = %s WHERE filename = %s", (m.checksum, m.name))


def test_metrics_schema_and_key_last_used(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=org.api_key, max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    list(client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True))
    gateway.flush()
    text = httpx.get(gateway.url + "/metrics", timeout=10).text
    for name in (
        "gateway_requests_total",
        "gateway_request_seconds_bucket",
        "gateway_overhead_seconds_bucket",
        "gateway_tokens_total",
        "gateway_cost_millicents_total",
        "gateway_write_queue_depth",
        "gateway_write_flush_seconds_bucket",
        "gateway_time_to_first_token_seconds_bucket",
    ):
        assert name in text, name
    assert 'gateway_requests_total{endpoint="chat",model="gpt-4o-mini",provider="openai",status="200"}' in text
    schema = httpx.get(gateway.url + "/schema/openapi.json", timeout=10).json()
    assert "/v1/models" in schema["paths"]
    with psycopg.connect(db_url) as c:
        row = c.execute("SELECT last_used_at FROM gateway_api_keys").fetchone()
    assert row is not None and row[0] is not None  # updated through the write queue


def test_gateway_config_file(tmp_path: Path) -> None:
    good = tmp_path / "gw.toml"
    good.write_text(
        '[router]\nauto_provider = "openai"\n\n[providers.vllm]\ndialect = "openai"\nbase_url = "http://127.0.0.1:8000/v1"\n\n'
        '[[models]]\nid = "llama"\nprovider = "vllm"\nupstream = "meta/llama"\ntier = "basic"\n\n'
        "[prices.llama]\ninput = 10\noutput = 20\n"
    )
    cfg = load_config(str(good))
    assert cfg.router.auto_provider == "openai"
    assert cfg.models[0].id == "llama" and cfg.providers["vllm"].dialect == "openai"
    assert cfg.prices["llama"].output == 20
    typo = tmp_path / "typo.toml"
    typo.write_text('[[models]]\nid = "x"\nprovider = "openai"\nupstream = "x"\ntier = "basic"\ncolour = "red"\n')
    with pytest.raises(ConfigError, match="colour"):
        load_config(str(typo))
    bad_tier = tmp_path / "tier.toml"
    bad_tier.write_text('[[models]]\nid = "x"\nprovider = "openai"\nupstream = "x"\ntier = "gold"\n')
    with pytest.raises(ConfigError, match="tier"):
        load_config(str(bad_tier))
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(str(tmp_path / "missing.toml"))


def test_configured_provider_and_model_are_served(
    upstream: MockUpstream, org: BootstrapResult, db_url: str, tmp_path: Path
) -> None:
    """A model added by GATEWAY_CONFIG, on an OpenAI-compatible server (here the mock), priced by override."""
    cfg = tmp_path / "gw.toml"
    cfg.write_text(
        f'[providers.local]\ndialect = "openai"\nbase_url = "{upstream.openai_base}"\n\n'
        '[[models]]\nid = "local-llama"\nprovider = "local"\nupstream = "meta/llama-3"\ntier = "basic"\n\n'
        "[prices.local-llama]\ninput = 1000000\noutput = 2000000\n"
    )
    from tests.support.fixtures import gateway_settings

    server = GatewayServer(create_app(gateway_settings(db_url, upstream, tmp_path, config_path=str(cfg)))).start()
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=org.api_key, max_retries=0)
        client.chat.completions.create(model="local-llama", messages=[{"role": "user", "content": "x"}])
        assert upstream.requests[-1].body["model"] == "meta/llama-3"
        server.flush()
        with psycopg.connect(db_url) as c:
            row = c.execute(
                "SELECT prompt_tokens, cache_read_tokens, completion_tokens, estimated_cost_millicents FROM llm_usage"
            ).fetchone()
        # 11 uncached input + 5 cached (no cache price: the input price) at 1,000,000 mc/M, 7 output at 2,000,000.
        assert row == (11, 5, 7, (16 * 1_000_000 + 7 * 2_000_000) // 1_000_000)
    finally:
        server.stop()
