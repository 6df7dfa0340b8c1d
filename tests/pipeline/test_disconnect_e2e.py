"""A client that leaves a non-stream request cancels the provider call, over the real server."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.accounts import BootstrapResult
from tests.pipeline.helpers import usage_rows
from tests.support.mock_upstream import MockUpstream, Script, anthropic_message
from tests.support.server import GatewayServer


def test_leaving_a_non_stream_request_is_recorded_cancelled(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    usage = {"input_tokens": 10, "output_tokens": 5}
    upstream.scripts.append(Script(body=anthropic_message("late", "claude-haiku-4-5", usage), delay_s=3.0))
    body = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            gateway.url + "/v1/messages", json=body, headers={"authorization": f"Bearer {org.api_key}"}, timeout=0.5
        )
    deadline = time.monotonic() + 5
    rows = usage_rows(db_url)
    while not rows and time.monotonic() < deadline:
        time.sleep(0.05)
        gateway.flush()
        rows = usage_rows(db_url)
    assert [r["status"] for r in rows] == ["cancelled"]
