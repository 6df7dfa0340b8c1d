"""Same-dialect streams over the real server: completeness, and billing without final usage."""

from __future__ import annotations

import time
from typing import Any

import httpx

from gateway.accounts import BootstrapResult
from tests.pipeline.helpers import usage_rows
from tests.support.mock_upstream import MockUpstream, Script, anthropic_stream_events, openai_stream_events
from tests.support.server import GatewayServer

USER = [{"role": "user", "content": "x"}]


def _rows(gateway: GatewayServer, db_url: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    gateway.flush()
    rows = usage_rows(db_url)
    while not rows and time.monotonic() < deadline:
        time.sleep(0.05)
        gateway.flush()
        rows = usage_rows(db_url)
    return rows


def _post(gateway: GatewayServer, path: str, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, headers={"authorization": f"Bearer {key}", **headers}, timeout=10)


def test_openai_stream_without_done_ends_in_an_error_frame(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    events = openai_stream_events("a b c", "gpt-4o-mini", 5, 3)
    upstream.scripts.append(Script(events=[e for e in events if b"[DONE]" not in e]))
    resp = _post(
        gateway, "/v1/chat/completions", org.api_key, {"model": "gpt-4o-mini", "messages": USER, "stream": True}
    )
    assert resp.status_code == 200
    assert '"error"' in resp.text and resp.text.endswith("data: [DONE]\n\n"), resp.text
    assert [r["status"] for r in _rows(gateway, db_url)] == ["error"]


def test_anthropic_stream_without_message_stop_ends_in_an_error_event(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    events = anthropic_stream_events("a b c", "claude-haiku-4-5", {"input_tokens": 5, "output_tokens": 3})
    upstream.scripts.append(Script(events=[e for e in events if b"message_stop" not in e]))
    body = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": USER, "stream": True}
    resp = _post(gateway, "/v1/messages", org.api_key, body)
    assert "event: error" in resp.text, resp.text
    assert [r["status"] for r in _rows(gateway, db_url)] == ["error"]


def test_html_answer_to_a_stream_is_an_error(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    upstream.scripts.append(Script(raw=b"<html><body>502 Bad Gateway</body></html>", content_type="text/html"))
    body = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": USER, "stream": True}
    resp = _post(gateway, "/v1/messages", org.api_key, body)
    assert resp.status_code == 502, resp.text
    assert resp.json()["type"] == "error" and "text/html" in resp.json()["error"]["message"]
    assert [r["status"] for r in _rows(gateway, db_url)] == ["error"]


def test_broken_anthropic_stream_is_billed_from_the_deltas(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    text = " ".join(f"token{i}" for i in range(150))
    events = anthropic_stream_events(text, "claude-haiku-4-5", {"input_tokens": 5, "output_tokens": 150})
    deltas = sum(1 for e in events if b"content_block_delta" in e)
    upstream.scripts.append(Script(events=events, break_after=2 + deltas))  # start, block start, the deltas
    body = {"model": "claude-haiku-4-5", "max_tokens": 400, "messages": USER, "stream": True}
    with httpx.stream(
        "POST", gateway.url + "/v1/messages", json=body, headers={"authorization": f"Bearer {org.api_key}"}
    ) as resp:
        streamed = resp.read().decode()
    assert streamed.count("event: content_block_delta") == deltas
    [row] = _rows(gateway, db_url)
    assert row["status"] == "error" and row["usage_estimated"] is True
    assert row["completion_tokens"] >= len(text) // 4, row  # not message_start's single token
