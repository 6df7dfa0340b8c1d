from __future__ import annotations

import openai
import psycopg

from gateway.accounts import BootstrapResult
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


def test_openai_sdk_to_claude(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=org.api_key)
    resp = client.chat.completions.create(model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content == upstream.text
    gateway.flush()
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT prompt_tokens, completion_tokens, cache_creation_tokens, cache_read_tokens FROM llm_usage"
        ).fetchone()
    assert row == (11, 7, 3, 5)
