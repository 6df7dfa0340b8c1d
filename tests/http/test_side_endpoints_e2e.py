"""``GET /v1/models/{id}``, ``POST /v1/messages/count_tokens`` and ``POST /v1/embeddings``
through the official SDKs against the running gateway and the scripted upstream."""

from __future__ import annotations

import anthropic
import openai
import psycopg
import pytest

from gateway import accounts
from gateway.accounts import BootstrapResult
from tests.pipeline.helpers import only_usage_row, usage_rows
from tests.support.mock_upstream import MockUpstream, Script, openai_embeddings
from tests.support.server import GatewayServer


def oai(gateway: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def ant(gateway: GatewayServer, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


def basic_only(db_url: str) -> BootstrapResult:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return accounts.bootstrap(conn, org="Frugal", email="intern@frugal.test", role="member", tiers=["basic"])


# --- GET /v1/models/{id} --------------------------------------------------------------------


def test_model_retrieve(gateway: GatewayServer, org: BootstrapResult) -> None:
    client = oai(gateway, org.api_key)
    model = client.models.retrieve("claude-sonnet-4-5")
    assert (model.id, model.object, model.owned_by) == ("claude-sonnet-4-5", "model", "anthropic")
    assert model.model_extra == {"tier": "standard", "provider": "anthropic"}
    assert client.models.retrieve("auto").owned_by == "gateway"


def test_model_retrieve_unknown_or_not_allowed_is_openai_404(
    gateway: GatewayServer, db_url: str, org: BootstrapResult
) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        oai(gateway, org.api_key).models.retrieve("gpt-9")
    assert missing.value.code == "model_not_found"
    assert "gpt-9" in missing.value.message
    intern = basic_only(db_url)
    assert oai(gateway, intern.api_key).models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    # A premium model is invisible to a basic-only caller, exactly like a missing one.
    with pytest.raises(openai.NotFoundError):
        oai(gateway, intern.api_key).models.retrieve("claude-opus-4-5")
    with pytest.raises(openai.AuthenticationError):
        oai(gateway, "gw-not-a-key").models.retrieve("gpt-4o-mini")


# --- POST /v1/messages/count_tokens ---------------------------------------------------------


def test_count_tokens_claude_asks_anthropic(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    raw = ant(gateway, org.api_key).messages.with_raw_response.count_tokens(
        model="claude-sonnet-4-5",
        system="Be brief.",
        messages=[{"role": "user", "content": "How many tokens is this?"}],
    )
    assert raw.parse().input_tokens == upstream.count_tokens
    assert raw.headers["x-gateway-token-count"] == "provider"
    assert raw.headers["x-gateway-model"] == "claude-sonnet-4-5"
    sent = upstream.requests[-1]
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.headers["x-api-key"] == "test-anthropic-key"
    assert sent.body["model"] == "claude-sonnet-4-5"
    assert sent.body["messages"] == [{"role": "user", "content": "How many tokens is this?"}]
    assert "max_tokens" not in sent.body  # Anthropic's count endpoint refuses it
    gateway.flush()
    assert usage_rows(db_url) == []  # nothing is billed


def test_count_tokens_openai_model_uses_its_tokenizer(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    raw = ant(gateway, org.api_key).messages.with_raw_response.count_tokens(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello, world!"}]
    )
    # o200k_base: "Hello" "," " world" "!" = 4, plus 3 for the message and 3 for the reply.
    assert raw.parse().input_tokens == 10
    assert raw.headers["x-gateway-token-count"] == "tokenizer"
    assert upstream.requests == []  # counted locally, no provider call
    gateway.flush()
    assert usage_rows(db_url) == []


def test_count_tokens_errors_are_anthropic_shaped(gateway: GatewayServer, db_url: str, org: BootstrapResult) -> None:
    client = ant(gateway, org.api_key)
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.count_tokens(model="claude-9", messages=[{"role": "user", "content": "x"}])
    assert missing.value.body["type"] == "error"  # type: ignore[index]
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.count_tokens(model="claude-sonnet-4-5", messages=[])
    assert "messages" in bad.value.message
    with pytest.raises(anthropic.PermissionDeniedError):
        ant(gateway, basic_only(db_url).api_key).messages.count_tokens(
            model="claude-opus-4-5", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.AuthenticationError):
        ant(gateway, "gw-bad").messages.count_tokens(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


def test_count_tokens_upstream_failure_is_anthropic_shaped(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult
) -> None:
    upstream.scripts.append(Script(status=529, body={"type": "error", "error": {"type": "overloaded_error"}}))
    with pytest.raises(anthropic.APIStatusError) as failed:
        ant(gateway, org.api_key).messages.count_tokens(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "x"}]
        )
    assert failed.value.status_code == 503
    assert failed.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


# --- POST /v1/embeddings --------------------------------------------------------------------


def test_embeddings_usage_row_and_cost(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    # 500,000 tokens at text-embedding-3-small's $0.02 per million: $0.01 = 1,000 millicents.
    upstream.scripts.append(Script(body=openai_embeddings("text-embedding-3-small", 2, 250_000)))
    raw = oai(gateway, org.api_key).embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["first text", "second text"], encoding_format="float"
    )
    resp = raw.parse()
    assert [d.embedding for d in resp.data] == [[0.5] * 4, [1.5] * 4]
    assert resp.model == "text-embedding-3-small"
    assert resp.usage.prompt_tokens == 500_000
    assert raw.headers["x-gateway-model"] == "text-embedding-3-small"
    sent = upstream.requests[-1]
    assert sent.path == "/v1/embeddings"
    assert sent.headers["Authorization"] == "Bearer test-openai-key"
    assert sent.body == {
        "model": "text-embedding-3-small",
        "input": ["first text", "second text"],
        "encoding_format": "float",
    }
    gateway.flush()
    row = only_usage_row(db_url)
    assert (row["model"], row["provider"], row["status"]) == ("text-embedding-3-small", "openai", "success")
    assert (row["prompt_tokens"], row["completion_tokens"]) == (500_000, 0)
    assert row["estimated_cost_millicents"] == 1000
    assert row["usage_estimated"] is False


def test_embeddings_errors_are_openai_shaped(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = oai(gateway, org.api_key)
    with pytest.raises(openai.BadRequestError) as chat_model:
        client.embeddings.create(model="gpt-4o-mini", input="x")
    assert chat_model.value.code == "model_not_embedding"
    with pytest.raises(openai.BadRequestError) as empty:
        client.embeddings.create(model="text-embedding-3-small", input=[])
    assert empty.value.param == "input"
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="embed-9", input="x")
    assert upstream.requests == []
    upstream.scripts.append(Script(status=500, body={"error": {"message": "boom"}}))
    with pytest.raises(openai.APIStatusError) as failed:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert failed.value.status_code == 502
    assert "boom" in failed.value.message
    gateway.flush()
    assert only_usage_row(db_url)["status"] == "error"


def test_chat_endpoints_refuse_embedding_models(gateway: GatewayServer, org: BootstrapResult) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        oai(gateway, org.api_key).chat.completions.create(
            model="text-embedding-3-small", messages=[{"role": "user", "content": "hi"}]
        )
    assert refused.value.code == "model_not_chat"
