"""Claude Code (``@anthropic-ai/claude-code``, headless ``-p``) pointed at the gateway.

The scripted upstream plays the model: asked with the Read tool on offer, it calls Read on
``notes.txt``; shown the tool result, it answers with what the file said. The test checks
what Claude Code printed, that the tool really ran (its result reached the upstream), that
every call streamed, and the usage rows the gateway wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.accounts import BootstrapResult
from tests.clients.conftest import client_bin, quiet_env, run_client
from tests.pipeline.helpers import usage_rows
from tests.support.mock_upstream import (
    MockUpstream,
    Script,
    anthropic_stream_events,
    anthropic_tool_stream_events,
)
from tests.support.server import GatewayServer

SECRET = "the launch code is 7431"
USAGE = {"input_tokens": 40, "output_tokens": 9, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def _tool_results(body: dict[str, Any]) -> list[str]:
    last = (body.get("messages") or [{}])[-1]
    content = last.get("content")
    out: list[str] = []
    for block in content if isinstance(content, list) else ():
        if block.get("type") == "tool_result":
            inner = block.get("content")
            if isinstance(inner, list):
                out.extend(str(p.get("text") or "") for p in inner if isinstance(p, dict))
            else:
                out.append(str(inner or ""))
    return out


def test_claude_code_reads_a_file_through_the_gateway(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, tmp_path: Path
) -> None:
    claude = client_bin("claude")
    work = tmp_path / "work"
    work.mkdir()
    notes = work / "notes.txt"
    notes.write_text(SECRET + "\n")

    def respond(path: str, body: dict[str, Any]) -> Script | None:
        if path != "/v1/messages":
            return None
        tools = {t.get("name") for t in body.get("tools") or ()}
        if "Read" not in tools:
            return None  # Claude Code's side requests (titles, topics): the default answer
        model = body.get("model", "m")
        results = _tool_results(body)
        if results:
            return Script(events=anthropic_stream_events("The note says: " + " ".join(results).strip(), model, USAGE))
        return Script(
            events=anthropic_tool_stream_events(model, "toolu_read_1", "Read", {"file_path": str(notes)}, USAGE)
        )

    upstream.responder = respond
    env = quiet_env(
        tmp_path / "home",
        ANTHROPIC_BASE_URL=gateway.url,
        ANTHROPIC_API_KEY=org.api_key,
        ANTHROPIC_SMALL_FAST_MODEL="claude-haiku-4-5",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        DISABLE_AUTOUPDATER="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )
    done = run_client(
        [str(claude), "-p", "What does notes.txt say?", "--model", "claude-sonnet-4-5", "--output-format", "text"],
        cwd=work,
        env=env,
    )
    assert done.returncode == 0, (done.stdout, done.stderr, [(r.path, r.body.get("model")) for r in upstream.requests])
    assert "7431" in done.stdout
    main = [
        r
        for r in upstream.requests
        if r.path == "/v1/messages" and any(t.get("name") == "Read" for t in r.body.get("tools") or ())
    ]
    assert len(main) >= 2
    assert all(r.body.get("stream") is True for r in main)
    assert any(SECRET in " ".join(_tool_results(r.body)) for r in main)  # the Read tool really ran
    gateway.flush()
    rows = [r for r in usage_rows(db_url) if r["model"] == "claude-sonnet-4-5"]
    assert len(rows) >= 2 and all(r["status"] == "success" for r in rows)
    assert any(r["prompt_tokens"] == 40 and r["completion_tokens"] == 9 for r in rows)
