"""An unreachable provider: the client learns which provider failed, never its URL or the HTTP
library's words; the gateway logs exactly one structured line with the details."""

from __future__ import annotations

import logging

import httpx
import pytest

from gateway.accounts import BootstrapResult
from gateway.http.app import create_app
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer, free_port


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/messages",
            {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        ),
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": True},
        ),
    ],
)
def test_unreachable_provider_hides_its_url(
    db_url: str,
    mock_provider: MockUpstream,
    org: BootstrapResult,
    tmp_path: object,
    caplog: pytest.LogCaptureFixture,
    path: str,
    body: dict[str, object],
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = gateway_settings(
        db_url,
        mock_provider,
        tmp_path,  # type: ignore[arg-type]
        anthropic_base_url=dead,
        openai_base_url=dead + "/v1",
    )
    server = GatewayServer(create_app(settings)).start()
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.pipeline.attempt"):
            resp = httpx.post(server.url + path, json=body, headers={"authorization": f"Bearer {org.api_key}"})
    finally:
        server.stop()
    assert resp.status_code == 503, resp.text
    text = resp.text
    assert "unreachable" in text
    assert "127.0.0.1" not in text and dead not in text and "Cannot connect" not in text, text
    lines = [r for r in caplog.records if r.name == "gateway.pipeline.attempt"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert getattr(lines[0], "reason", None) == "upstream_unavailable"
    assert "Connect" in lines[0].getMessage()  # the library's words are in the log, not the answer
