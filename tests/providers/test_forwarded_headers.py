"""Client headers the providers define (feature flags) go upstream; credentials never do."""

from __future__ import annotations

import httpx

from gateway.accounts import BootstrapResult
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer

USER = [{"role": "user", "content": "x"}]


def test_anthropic_beta_reaches_anthropic_and_credentials_stay_home(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult
) -> None:
    body = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": USER}
    headers = {"anthropic-beta": "context-1m-2025-08-07", "openai-organization": "org-123"}
    resp = httpx.post(
        gateway.url + "/v1/messages",
        json=body,
        headers={"authorization": f"Bearer {org.api_key}", **headers},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    sent = {k.lower(): v for k, v in upstream.requests[-1].headers.items()}
    assert sent["anthropic-beta"] == "context-1m-2025-08-07"
    assert sent["x-api-key"] == "test-anthropic-key"  # the gateway's key, not the client's
    assert org.api_key not in sent.values() and "openai-organization" not in sent
