"""Fuzz both proxy endpoints with hand-written strategies of their bodies: never a 5xx.

The bodies are mostly well-formed with odd values (wrong types, unknown roles and part
types, huge or negative numbers, unknown fields), plus some raw bytes; every answer must be
a success or a 4xx in the endpoint's own dialect. Kept to a few dozen examples a run.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.accounts import BootstrapResult
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer

MODELS = ["claude-haiku-4-5", "gpt-4o-mini", "auto", "gpt-99", ""]
ROLES = ["user", "assistant", "system", "developer", "tool", "bot"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
part = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "image", "file", "input_audio", "tool_use", "tool_result"])},
    optional={
        "text": st.one_of(st.text(max_size=30), json_values),
        "image_url": st.one_of(st.fixed_dictionaries({"url": st.text(max_size=30)}), json_values),
        "source": json_values,
        "id": st.text(max_size=8),
        "tool_use_id": st.text(max_size=8),
        "content": json_values,
    },
)
content = st.one_of(st.text(max_size=40), st.lists(part, max_size=3), json_values)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(ROLES), "content": content},
    optional={
        "tool_call_id": st.text(max_size=8),
        "tool_calls": st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.text(max_size=8),
                    "type": st.just("function"),
                    "function": st.fixed_dictionaries(
                        {"name": st.text(max_size=8), "arguments": st.one_of(st.text(max_size=20), json_values)}
                    ),
                }
            ),
            max_size=2,
        ),
    },
)
body = st.fixed_dictionaries(
    {"model": st.one_of(st.sampled_from(MODELS), json_values), "messages": st.lists(message, max_size=4)},
    optional={
        "max_tokens": st.one_of(st.integers(min_value=-5, max_value=2**66), json_values),
        "max_completion_tokens": st.integers(min_value=-5, max_value=10**6),
        "n": st.integers(min_value=-1, max_value=4),
        "temperature": st.one_of(st.floats(allow_nan=False, allow_infinity=False), json_values),
        "stream": st.booleans(),
        "stream_options": json_values,
        "tools": st.lists(
            st.one_of(
                st.fixed_dictionaries({"type": st.sampled_from(["function", "web_search_20250305", "custom"])}),
                json_values,
            ),
            max_size=2,
        ),
        "tool_choice": json_values,
        "system": st.one_of(st.text(max_size=20), json_values),
        "metadata": json_values,
    },
)
payload = st.one_of(body.map(msgspec.json.encode), st.binary(max_size=64))


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_no_body_gets_a_5xx(gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, path: str) -> None:
    headers = {"authorization": f"Bearer {org.api_key}", "content-type": "application/json"}

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=payload)
    def check(data: bytes) -> None:
        resp = httpx.post(gateway.url + path, content=data, headers=headers, timeout=20)
        assert resp.status_code < 500, (data, resp.status_code, resp.text)
        if resp.status_code >= 400:
            err: Any = resp.json()
            assert ("type" in err and err["type"] == "error") if path == "/v1/messages" else "error" in err

    check()
