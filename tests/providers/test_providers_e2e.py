"""The provider kinds of ``GATEWAY_CONFIG`` (presets and clouds), each driven through the real
gateway by an official SDK against the scripted upstream, with prices from litellm's map."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anthropic
import openai
import pytest

from gateway.accounts import BootstrapResult
from gateway.config import ConfigError, ProviderEntry
from gateway.http.app import create_app
from gateway.providers.registry import build_configured
from tests.pipeline.helpers import only_usage_row, usage_rows
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


def _config(mock: MockUpstream) -> str:
    root = f"http://{mock.host}:{mock.port}"
    return f"""
[providers.gemini]
kind = "gemini"
base_url = "{mock.openai_base}"
api_key = "gemini-key"

[providers.groq]
kind = "groq"
base_url = "{mock.openai_base}"
api_key = "groq-key"

[providers.azure]
kind = "azure"
base_url = "{root}"
api_key = "azure-key"
api_version = "2024-10-21"

[providers.bedrock]
kind = "bedrock"
region = "us-east-1"
base_url = "{root}"
api_key = "bedrock-key"

[providers.vertex]
kind = "vertex"
project = "acme-ai"
region = "us-east5"
base_url = "{root}"
api_key = "vertex-token"

[[models]]
id = "gemini-2.5-flash"
provider = "gemini"
upstream = "gemini-2.5-flash"
tier = "basic"

[[models]]
id = "llama-3.3-70b"
provider = "groq"
upstream = "llama-3.3-70b-versatile"
tier = "basic"

[[models]]
id = "azure-gpt-4o"
provider = "azure"
upstream = "gpt-4o"
tier = "standard"

[[models]]
id = "azure-embedding"
provider = "azure"
upstream = "text-embedding-3-small"
tier = "basic"
mode = "embedding"

[[models]]
id = "bedrock-sonnet"
provider = "bedrock"
upstream = "anthropic.claude-sonnet-4-5-20250929-v1:0"
tier = "standard"

[[models]]
id = "vertex-sonnet"
provider = "vertex"
upstream = "claude-sonnet-4-5@20250929"
tier = "standard"
"""


@pytest.fixture(scope="module")
def clouds(
    migrated_db_url: str, mock_provider: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    """A gateway whose GATEWAY_CONFIG names every provider kind, all pointed at the mock."""
    root = tmp_path_factory.mktemp("clouds")
    config = root / "gateway.toml"
    config.write_text(_config(mock_provider))
    settings = gateway_settings(migrated_db_url, mock_provider, root / "data", config_path=str(config))
    server = GatewayServer(create_app(settings)).start()
    yield server
    server.stop()


def oai(server: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def ant(server: GatewayServer, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0)


USER: Any = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(("model", "key"), [("gemini-2.5-flash", "gemini-key"), ("llama-3.3-70b", "groq-key")])
def test_openai_compatible_presets(
    clouds: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, model: str, key: str
) -> None:
    client = oai(clouds, org.api_key)
    reply = client.chat.completions.create(model=model, messages=USER)
    assert reply.choices[0].message.content == upstream.text
    sent = upstream.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == f"Bearer {key}"
    assert sent.body["model"] == model.replace("llama-3.3-70b", "llama-3.3-70b-versatile")
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model=model, messages=USER, stream=True)
        if c.choices
    )
    assert streamed == upstream.text
    clouds.flush()
    rows = usage_rows(db_url)
    assert len(rows) == 2 and all(r["estimated_cost_millicents"] > 0 for r in rows)  # priced by litellm's map


def test_azure_deployment_url_api_version_and_key(
    clouds: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = oai(clouds, org.api_key)
    reply = client.chat.completions.create(model="azure-gpt-4o", messages=USER)
    assert reply.choices[0].message.content == upstream.text
    sent = upstream.requests[-1]
    assert sent.path == "/openai/deployments/gpt-4o/chat/completions"
    assert sent.headers["api-key"] == "azure-key" and "Authorization" not in sent.headers
    clouds.flush()
    assert only_usage_row(db_url)["estimated_cost_millicents"] > 0
    emb = client.embeddings.create(model="azure-embedding", input="hi", encoding_format="float")
    assert len(emb.data) == 1
    assert upstream.requests[-1].path == "/openai/deployments/text-embedding-3-small/embeddings"
    # An Anthropic-dialect client reaches the Azure deployment through translation.
    msg = ant(clouds, org.api_key).messages.create(model="azure-gpt-4o", max_tokens=50, messages=USER)
    assert getattr(msg.content[0], "text", None) == upstream.text


def test_bedrock_claude_whole_and_event_stream(
    clouds: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = ant(clouds, org.api_key)
    msg = client.messages.create(model="bedrock-sonnet", max_tokens=50, messages=USER)
    assert getattr(msg.content[0], "text", None) == upstream.text
    sent = upstream.requests[-1]
    assert sent.path == "/model/anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"
    assert sent.headers["Authorization"] == "Bearer bedrock-key"
    assert sent.body["anthropic_version"] == "bedrock-2023-05-31"
    assert "model" not in sent.body and "stream" not in sent.body
    with client.messages.stream(model="bedrock-sonnet", max_tokens=50, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == upstream.text
    assert final.usage.output_tokens == 7
    assert upstream.requests[-1].path.endswith("/invoke-with-response-stream")
    # An OpenAI client streams from Bedrock too: event-stream -> Anthropic SSE -> OpenAI chunks.
    chunks = list(
        oai(clouds, org.api_key).chat.completions.create(
            model="bedrock-sonnet",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == upstream.text
    clouds.flush()
    rows = usage_rows(db_url)
    assert len(rows) == 3 and all(r["status"] == "success" and r["estimated_cost_millicents"] > 0 for r in rows)
    assert all((r["prompt_tokens"], r["completion_tokens"]) == (11, 7) for r in rows)


def test_vertex_claude_raw_predict(
    clouds: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = ant(clouds, org.api_key)
    msg = client.messages.create(model="vertex-sonnet", max_tokens=50, messages=USER)
    assert getattr(msg.content[0], "text", None) == upstream.text
    sent = upstream.requests[-1]
    base = "/v1/projects/acme-ai/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929"
    assert sent.path == base + ":rawPredict"
    assert sent.headers["Authorization"] == "Bearer vertex-token"
    assert sent.body["anthropic_version"] == "vertex-2023-10-16" and "model" not in sent.body
    with client.messages.stream(model="vertex-sonnet", max_tokens=50, messages=USER) as stream:
        assert "".join(stream.text_stream) == upstream.text
    assert upstream.requests[-1].path == base + ":streamRawPredict"
    clouds.flush()
    rows = usage_rows(db_url)
    assert len(rows) == 2 and all(r["estimated_cost_millicents"] > 0 for r in rows)


def test_a_kind_names_what_it_needs() -> None:
    with pytest.raises(ConfigError, match="'region'"):
        build_configured("b", ProviderEntry(kind="bedrock"), client=cast(Any, None))
    with pytest.raises(ConfigError, match="'dialect'"):
        build_configured("x", ProviderEntry(base_url="http://h"), client=cast(Any, None))


def test_config_file_path_is_used(tmp_path: Path) -> None:
    # The example in gateway.config's docstring decodes (kinds, presets, cloud fields).
    from gateway.config import load_config

    cfg = tmp_path / "g.toml"
    cfg.write_text('[providers.groq]\nkind = "groq"\napi_key = "k"\n')
    assert load_config(str(cfg)).providers["groq"].kind == "groq"
