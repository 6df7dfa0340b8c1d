"""The OpenAI and Anthropic TypeScript SDKs (npm) driving the gateway: every endpoint, both
providers, streamed and not, and an error in each dialect (``ts_sdks.mjs``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gateway.accounts import BootstrapResult
from tests.clients.conftest import CLIENTS_DIR, NODE_MODULES, quiet_env, run_client
from tests.pipeline.helpers import usage_rows
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


def test_typescript_sdks(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, tmp_path: Path
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed on this machine, so the TypeScript SDK test cannot run")
    if not (NODE_MODULES / "openai").is_dir() or not (NODE_MODULES / "@anthropic-ai" / "sdk").is_dir():
        pytest.skip("the TypeScript SDKs are not installed: run `make clients` (npm ci in tests/clients)")
    env = quiet_env(tmp_path, GATEWAY_URL=gateway.url, GATEWAY_KEY=org.api_key)
    done = run_client([node, str(CLIENTS_DIR / "ts_sdks.mjs")], cwd=CLIENTS_DIR, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    text = upstream.text
    for name in (
        "chat_to_claude",
        "chat_stream_to_openai",
        "responses_stream_to_claude",
        "responses_to_openai",
        "responses_retrieved",
        "messages_stream_to_openai",
        "messages_to_claude",
    ):
        assert out[name] == text, name
    assert out["chat_stream_usage"] == out["responses_stream_usage"] == out["messages_stream_usage"] == 7
    assert out["count_tokens"] == 10
    assert out["embedding_length"] == 4
    assert out["model"] == "claude-sonnet-4-5"
    assert out["openai_error"] == [404, "model_not_found"]
    assert out["anthropic_error"] == [404, "not_found_error"]
    gateway.flush()
    rows = usage_rows(db_url)
    # Six model calls and one embedding: one row each, all successful; refused requests none.
    assert sorted(r["model"] for r in rows) == sorted(
        [
            "claude-haiku-4-5",
            "gpt-4o-mini",
            "claude-sonnet-4-5",
            "gpt-4o-mini",
            "gpt-4o-mini",
            "claude-haiku-4-5",
            "text-embedding-3-small",
        ]
    )
    assert all(r["status"] == "success" for r in rows)
