"""Codex CLI (``@openai/codex``, ``codex exec``) pointed at the gateway's Responses API.

The scripted upstream plays the model: first it calls Codex's ``exec_command`` tool to
``cat notes.txt``; shown the command's output, it answers with it. The test checks what
Codex printed, that the command really ran (its output reached the upstream), that the
calls streamed through ``/v1/responses``, and the usage rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from gateway.accounts import BootstrapResult
from tests.clients.conftest import client_bin, quiet_env, run_client
from tests.pipeline.helpers import usage_rows
from tests.support.mock_upstream import (
    MockUpstream,
    Script,
    anthropic_stream_events,
    anthropic_tool_stream_events,
    responses_call_stream_events,
    responses_stream_events,
    responses_usage_body,
)
from tests.support.server import GatewayServer

SECRET = "the launch code is 7431"


def _outputs(body: dict[str, Any]) -> list[str]:
    items = body.get("input")
    return [
        str(i.get("output"))
        for i in (items if isinstance(items, list) else ())
        if isinstance(i, dict) and i.get("type") == "function_call_output"
    ]


def codex_home(root: Path, gateway: GatewayServer, model: str) -> Path:
    home = root / "codex"
    home.mkdir()
    (home / "config.toml").write_text(
        f'model = "{model}"\n'
        'model_provider = "gateway"\n'
        "[model_providers.gateway]\n"
        'name = "gateway"\n'
        f'base_url = "{gateway.url}/v1"\n'
        'env_key = "GATEWAY_API_KEY"\n'
        'wire_api = "responses"\n'
    )
    return home


def test_codex_runs_a_command_through_the_gateway(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, tmp_path: Path
) -> None:
    codex = client_bin("codex")
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text(SECRET + "\n")
    usage = responses_usage_body(50, 12)

    def respond(path: str, body: dict[str, Any]) -> Script | None:
        if path != "/v1/responses":
            return None
        model = body.get("model", "m")
        outputs = _outputs(body)
        if outputs:
            return Script(events=responses_stream_events("The file says: " + " ".join(outputs), model, usage))
        args = msgspec.json.encode({"cmd": "cat notes.txt"}).decode()
        return Script(events=responses_call_stream_events(model, "exec_command", args, usage))

    upstream.responder = respond
    env = quiet_env(
        tmp_path / "home", CODEX_HOME=str(codex_home(tmp_path, gateway, "gpt-4o-mini")), GATEWAY_API_KEY=org.api_key
    )
    done = run_client(
        [
            str(codex),
            "exec",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "What does notes.txt say?",
        ],
        cwd=work,
        env=env,
    )
    assert done.returncode == 0, (done.stdout, done.stderr[-3000:])
    assert "7431" in done.stdout
    calls = [r for r in upstream.requests if r.path == "/v1/responses"]
    assert len(calls) == 2 and all(r.body.get("stream") is True for r in calls)
    assert any(SECRET in " ".join(_outputs(r.body)) for r in calls)  # the command really ran
    assert all(r.body["model"] == "gpt-4o-mini" for r in calls)
    gateway.flush()
    rows = usage_rows(db_url)
    assert len(rows) == 2
    assert all(
        (r["model"], r["status"], r["prompt_tokens"], r["completion_tokens"]) == ("gpt-4o-mini", "success", 50, 12)
        for r in rows
    )


def test_codex_on_a_claude_model_through_the_translated_responses_api(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, tmp_path: Path
) -> None:
    codex = client_bin("codex")
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text(SECRET + "\n")
    usage = {"input_tokens": 50, "output_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}

    def respond(path: str, body: dict[str, Any]) -> Script | None:
        if path != "/v1/messages":
            return None
        model = body.get("model", "m")
        last = body["messages"][-1]["content"]
        results = (
            [b for b in last if isinstance(b, dict) and b.get("type") == "tool_result"]
            if isinstance(last, list)
            else []
        )
        if results:
            text = "The file says: " + " ".join(str(b.get("content")) for b in results)
            return Script(events=anthropic_stream_events(text, model, usage))
        return Script(
            events=anthropic_tool_stream_events(model, "toolu_codex_1", "exec_command", {"cmd": "cat notes.txt"}, usage)
        )

    upstream.responder = respond
    env = quiet_env(
        tmp_path / "home",
        CODEX_HOME=str(codex_home(tmp_path, gateway, "claude-sonnet-4-5")),
        GATEWAY_API_KEY=org.api_key,
    )
    done = run_client(
        [
            str(codex),
            "exec",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "What does notes.txt say?",
        ],
        cwd=work,
        env=env,
    )
    assert done.returncode == 0, (done.stdout, done.stderr[-3000:])
    assert "7431" in done.stdout
    calls = [r for r in upstream.requests if r.path == "/v1/messages"]
    assert len(calls) == 2 and all(r.body.get("stream") is True for r in calls)
    assert "exec_command" in {t["name"] for t in calls[0].body["tools"]}
    gateway.flush()
    rows = usage_rows(db_url)
    assert [(r["model"], r["status"], r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [
        ("claude-sonnet-4-5", "success", 50, 12)
    ] * 2
