"""AUTO mode end to end: both endpoints, both SDKs, streamed and not, and the decision log."""

from __future__ import annotations

import anthropic
import openai
import pytest

from gateway.accounts import BootstrapResult
from gateway.catalog import Catalog
from gateway.config import ModelEntry
from router import DEFAULT_CONFIG, Conversation, Message, score_conversation
from router.complexity import COMPLEXITIES
from tests.routing.helpers import COMPLEX_PROMPT, SIMPLE_PROMPT, assert_complete, decision_row, usage_row
from tests.support.mock_upstream import MockUpstream, Script
from tests.support.server import GatewayServer


def _ladder(provider: str) -> dict[str, ModelEntry]:
    """The built-in catalog's AUTO pick per class (read from the catalog, so an update needs no edit here)."""
    catalog = Catalog.with_overrides([])
    picks = {c: catalog.for_complexity(provider, c) for c in COMPLEXITIES}
    ladder: dict[str, ModelEntry] = {c: m for c, m in picks.items() if m is not None}
    assert len({m.id for m in ladder.values()}) == len(COMPLEXITIES), ladder  # one distinct model per class
    return ladder


# The catalog's AUTO ladder per provider (the client's dialect picks the provider by default).
LADDER = {"openai": _ladder("openai"), "anthropic": _ladder("anthropic")}


def expected_tier(prompt: str) -> str:
    return score_conversation(Conversation(messages=(Message("user", prompt),)), DEFAULT_CONFIG).complexity


def check_row(db_url: str, request_id: str, org: BootstrapResult, provider: str, prompt: str) -> None:
    row = decision_row(db_url, request_id)
    assert_complete(row)
    tier = expected_tier(prompt)
    assert row["tier"] == tier
    assert row["selected_model"] == LADDER[provider][tier].id
    assert row["provider"] == provider
    assert row["organization_id"] == org.organization_id
    assert row["user_id"] == org.user_id
    assert row["conversation_id"] is None  # no X-Conversation-Id header
    assert row["conversation_turn"] == 1
    assert row["query_length"] == len(prompt)
    assert 0 <= row["score"] <= 100 and 0.5 <= row["confidence"] <= 1.0
    assert row["reasoning"].startswith(tier)
    assert row["config_version"] == 0  # no configuration stored: the built-in one
    assert row["request_succeeded"] is True
    assert row["response_tokens"] == 7  # the mock's output tokens
    usage = usage_row(db_url, request_id)
    assert usage["auto_routed"] is True and usage["model"] == row["selected_model"]
    assert usage["cost"] > 0 and row["estimated_cost_millicents"] == usage["cost"]


@pytest.mark.parametrize("prompt", [SIMPLE_PROMPT, COMPLEX_PROMPT])
@pytest.mark.parametrize("stream", [False, True])
def test_openai_sdk_auto(
    router_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, prompt: str, stream: bool
) -> None:
    client = openai.OpenAI(base_url=router_gw.url + "/v1", api_key=org.api_key, max_retries=0)
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": prompt}]
    if stream:
        chunks = client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, stream=True, stream_options={"include_usage": True}
        )
        headers = chunks.headers
        text = "".join(c.choices[0].delta.content or "" for c in chunks.parse() if c.choices)
    else:
        completion = client.chat.completions.with_raw_response.create(model="auto", messages=messages)
        headers = completion.headers
        text = completion.parse().choices[0].message.content or ""
    assert text == upstream.text
    tier = expected_tier(prompt)
    assert headers["x-gateway-tier"] == tier
    assert headers["x-gateway-model"] == LADDER["openai"][tier].id
    assert upstream.requests[-1].body["model"] == LADDER["openai"][tier].upstream
    router_gw.flush()
    check_row(db_url, headers["x-request-id"], org, "openai", prompt)


@pytest.mark.parametrize("prompt", [SIMPLE_PROMPT, COMPLEX_PROMPT])
@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_auto(
    router_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, prompt: str, stream: bool
) -> None:
    client = anthropic.Anthropic(base_url=router_gw.url, api_key=org.api_key, max_retries=0)
    if stream:
        events = client.messages.with_raw_response.create(
            model="auto", max_tokens=256, messages=[{"role": "user", "content": prompt}], stream=True
        )
        headers = events.headers
        text = "".join(
            e.delta.text for e in events.parse() if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
    else:
        message = client.messages.with_raw_response.create(
            model="auto", max_tokens=256, messages=[{"role": "user", "content": prompt}]
        )
        headers = message.headers
        block = message.parse().content[0]
        text = block.text if block.type == "text" else ""
    assert text == upstream.text
    tier = expected_tier(prompt)
    assert headers["x-gateway-tier"] == tier
    assert headers["x-gateway-model"] == LADDER["anthropic"][tier].id
    assert upstream.requests[-1].body["model"] == LADDER["anthropic"][tier].upstream
    router_gw.flush()
    check_row(db_url, headers["x-request-id"], org, "anthropic", prompt)


def test_conversation_id_and_turn_recorded(
    router_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = openai.OpenAI(base_url=router_gw.url + "/v1", api_key=org.api_key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": "thanks"},
        ],
        extra_headers={"X-Conversation-Id": "new"},
    )
    conv_id = raw.headers["x-conversation-id"]
    router_gw.flush()
    row = decision_row(db_url, raw.headers["x-request-id"])
    assert_complete(row, nullable=set())
    assert row["conversation_id"] == conv_id
    assert row["conversation_turn"] == 2
    assert row["query_length"] == len("thanks")


@pytest.mark.parametrize("stream", [False, True])
def test_failed_upstream_logs_unsuccessful_decision(
    router_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, stream: bool
) -> None:
    upstream.scripts.append(
        Script(status=500, body={"type": "error", "error": {"type": "api_error", "message": "boom"}})
    )
    client = anthropic.Anthropic(base_url=router_gw.url, api_key=org.api_key, max_retries=0)
    # The provider fails before the first byte, so even a streamed request gets an error status.
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(
            model="auto", max_tokens=64, messages=[{"role": "user", "content": SIMPLE_PROMPT}], stream=stream
        )
    assert info.value.status_code >= 500
    request_id = info.value.response.headers["x-request-id"]
    router_gw.flush()
    row = decision_row(db_url, request_id)
    assert_complete(row)
    assert row["request_succeeded"] is False
    assert row["tier"] == "simple" and row["selected_model"] == LADDER["anthropic"]["simple"].id
    assert row["response_tokens"] == 0 and row["estimated_cost_millicents"] == 0
