"""Providers from ``GATEWAY_CONFIG`` entries: a kind (preset or cloud), or a dialect and URL.

================  =========  ==============================================================
kind              dialect    needs
================  =========  ==============================================================
(none)            as given   ``dialect``, ``base_url``
gemini, vllm,     openai     ``api_key`` (``base_url`` overrides the preset's)
ollama, groq,
together, mistral
azure             openai     ``base_url`` (the resource endpoint), ``api_key``, ``api_version``
bedrock           anthropic  ``region``, ``api_key`` (a Bedrock API key)
vertex            anthropic  ``project``, ``region``, ``api_key`` (an OAuth access token)
================  =========  ==============================================================
"""

from __future__ import annotations

from gateway.config import ConfigError, ProviderEntry
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.azure import AzureOpenAIProvider
from gateway.providers.base import Provider
from gateway.providers.bedrock import BedrockClaudeProvider
from gateway.providers.compatible import PRESETS
from gateway.providers.openai import OpenAIProvider
from gateway.providers.upstream import UpstreamClient
from gateway.providers.vertex import VertexClaudeProvider

# litellm price-map key prefixes of the clouds (presets carry their own).
_PRICE_PREFIX = {"azure": "azure/", "bedrock": "bedrock/", "vertex": "vertex_ai/"}


def price_prefix(entry: ProviderEntry) -> str:
    """The prefix litellm's price map files this provider's models under ("" when none)."""
    preset = PRESETS.get(entry.kind)
    return preset.price_prefix if preset is not None else _PRICE_PREFIX.get(entry.kind, "")


def _need(name: str, entry: ProviderEntry, field: str) -> str:
    value = getattr(entry, field)
    if not value:
        raise ConfigError(f"GATEWAY_CONFIG providers.{name}: kind '{entry.kind}' needs '{field}'")
    return str(value)


def build_configured(name: str, entry: ProviderEntry, client: UpstreamClient) -> Provider:
    """The provider an entry describes.

    Raises:
        ConfigError: A field the kind needs is missing.
    """
    kind = entry.kind
    preset = PRESETS.get(kind)
    if preset is not None or kind == "openai":
        base = entry.base_url or (preset.base_url if preset is not None else "https://api.openai.com/v1")
        native = entry.responses_api or (preset.responses_api if preset is not None else kind == "openai")
        return OpenAIProvider(name, base, entry.api_key, client, responses_api=native)
    if kind == "anthropic":
        return AnthropicProvider(name, entry.base_url or "https://api.anthropic.com", entry.api_key, client)
    if kind == "azure":
        return AzureOpenAIProvider(name, _need(name, entry, "base_url"), entry.api_key, entry.api_version, client)
    if kind == "bedrock":
        region = _need(name, entry, "region")
        return BedrockClaudeProvider(name, region=region, api_key=entry.api_key, client=client, base_url=entry.base_url)
    if kind == "vertex":
        return VertexClaudeProvider(
            name,
            project=_need(name, entry, "project"),
            region=_need(name, entry, "region"),
            token=entry.api_key,
            client=client,
            base_url=entry.base_url,
        )
    dialect, base = _need(name, entry, "dialect"), _need(name, entry, "base_url")
    if dialect == "openai":
        return OpenAIProvider(name, base, entry.api_key, client, responses_api=entry.responses_api)
    return AnthropicProvider(name, base, entry.api_key, client)
