"""The optional ``GATEWAY_CONFIG`` TOML file.

Decoded with unknown fields refused, so a typo in an operator's file is an error at
start-up rather than a setting silently ignored. Example::

    [router]
    auto_provider = "dialect"      # or "anthropic" / "openai": where AUTO sends requests
    keep_prompts = true            # keep AUTO prompts (2,000 chars) so feedback can train the router

    [router.cascade]               # cascade mode (router config mode = "cascade")
    drafters = ["claude-3-5-haiku-20241022", "gpt-4o-mini"]
    escalate_to = "claude-opus-4-1-20250805"   # default: the complex-tier model

    [providers.vllm]               # any OpenAI-compatible server
    dialect = "openai"
    base_url = "http://127.0.0.1:8000/v1"

    [providers.groq]               # a preset: gemini, vllm, ollama, groq, together, mistral
    kind = "groq"
    api_key = "gsk_..."

    [providers.azure]              # also: kind = "bedrock" (region), "vertex" (project, region)
    kind = "azure"
    base_url = "https://my-resource.openai.azure.com"
    api_key = "..."
    api_version = "2024-10-21"

    [[models]]                     # adds a model, or replaces a built-in one with the same id
    id = "llama-3-8b"
    provider = "vllm"
    upstream = "meta-llama/Meta-Llama-3-8B-Instruct"
    tier = "basic"

    [prices."llama-3-8b"]          # millicents per million tokens
    input = 0
    output = 0

    [[deployments]]                # one more place serving a catalog model (README, Resilience)
    model = "gpt-5.4"
    name = "openai-eu"
    base_url = "https://eu.api.openai.com/v1"   # dialect and key default to the model's provider
    api_key = "sk-..."
    weight = 2
    max_parallel = 64

    [fallbacks]                    # model -> models to try when all its deployments failed
    "gpt-5.4" = ["claude-sonnet-5"]
    "claude-opus-5" = []           # never fall back
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from gateway.model_tier import ModelTier
from router.complexity import Complexity

# What a provider speaks.
ProviderDialect = Literal["openai", "anthropic"]
# What a codec speaks: a provider dialect, or the Responses API (a client dialect; its native
# route is chosen per provider, see gateway.pipeline.route).
Dialect = Literal["openai", "anthropic", "responses"]
ModelMode = Literal["chat", "embedding"]


class ModelEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One model clients may ask for."""

    id: str
    provider: str
    upstream: str
    tier: ModelTier
    # The AUTO complexity class this model serves for its provider, if any.
    complexity: Complexity | None = None
    # Key in the price table; defaults to ``upstream``.
    price_key: str | None = None
    # Upper bound used when the client sends no max_tokens (budget reservations, Anthropic).
    default_max_tokens: int = 4096
    # The most output tokens the model can produce in one reply: a client asking for more gets
    # a 400 (and budgets never reserve for an impossible reply).
    max_output_tokens: int = 32_768
    # "embedding" models serve POST /v1/embeddings only; "chat" models the chat endpoints.
    mode: ModelMode = "chat"


ProviderKind = Literal[
    "", "openai", "anthropic", "gemini", "azure", "bedrock", "vertex", "vllm", "ollama", "groq", "together", "mistral"
]


class ProviderEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An extra provider: a kind (a preset or a cloud, see ``gateway.providers.registry``), or a
    dialect and base URL of any compatible server."""

    dialect: ProviderDialect | None = None
    base_url: str | None = None
    api_key: str | None = None
    # An OpenAI-dialect server with its own /responses endpoint (POST /v1/responses is passed
    # through natively instead of translated to Chat Completions).
    responses_api: bool = False
    kind: ProviderKind = ""
    api_version: str | None = None  # azure
    region: str | None = None  # bedrock, vertex
    project: str | None = None  # vertex


class PriceEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A price override, in millicents per million tokens."""

    input: int
    output: int
    cache_write: int | None = None
    cache_read: int | None = None


class DeploymentEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One deployment of a catalog model: the same model behind another key, region or URL.

    Unset fields are taken from ``provider`` (default: the model's own provider).
    """

    model: str
    name: str
    provider: str | None = None
    dialect: Dialect | None = None
    base_url: str | None = None
    api_key: str | None = None
    # The model name this deployment knows it by (an Azure deployment, a vLLM served name).
    upstream: str | None = None
    weight: float = 1.0
    # Own limits, per process: requests in flight, and requests per minute.
    max_parallel: int | None = None
    rpm: int | None = None


class CascadeSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``[router.cascade]``: who drafts, who checks long answers, who answers on doubt.

    Attributes:
        drafters: Simple-tier model ids that draft the answer (two or more run in parallel).
        judge: Optional model asked to check long (free-text) drafts.
        escalate_to: Model that answers when the check doubts the drafts (default: the
            complex-tier model of the AUTO provider).
        skip_above: Optional prompt score above which drafting is skipped (off by default:
            the prompt score alone carries little).
        escalate_at: Doubt (0-100) at or above which the cascade escalates.
    """

    drafters: list[str] = msgspec.field(default_factory=list)
    judge: str | None = None
    escalate_to: str | None = None
    skip_above: int | None = None
    escalate_at: int = 50


class RouterSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # "dialect": the client's dialect picks the provider; or a provider name.
    auto_provider: str = "dialect"
    # Keep the last user turn of AUTO requests (first 2,000 characters) in
    # routing_decisions.query_text, so feedback on them can train the router.
    keep_prompts: bool = True
    cascade: CascadeSection | None = None


class GatewayConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    models: list[ModelEntry] = msgspec.field(default_factory=list)
    providers: dict[str, ProviderEntry] = msgspec.field(default_factory=dict)
    prices: dict[str, PriceEntry] = msgspec.field(default_factory=dict)
    router: RouterSection = msgspec.field(default_factory=RouterSection)
    deployments: list[DeploymentEntry] = msgspec.field(default_factory=list)
    fallbacks: dict[str, list[str]] = msgspec.field(default_factory=dict)


class ConfigError(ValueError):
    """The configuration file cannot be used."""


def load_config(path: str | None) -> GatewayConfig:
    """Read and validate the TOML file at ``path`` (no file: the defaults)."""
    if not path:
        return GatewayConfig()
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"GATEWAY_CONFIG {path!r} cannot be read: {exc}") from exc
    try:
        config = msgspec.toml.decode(raw, type=GatewayConfig)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError(f"GATEWAY_CONFIG {path!r}: {exc}") from exc
    cascade = config.router.cascade
    if cascade is not None:
        if not cascade.drafters:
            raise ConfigError(f"GATEWAY_CONFIG {path!r}: [router.cascade] needs drafters = [at least one model id]")
        if not 0 <= cascade.escalate_at <= 100 or not 0 <= (cascade.skip_above or 0) <= 100:
            raise ConfigError(f"GATEWAY_CONFIG {path!r}: [router.cascade] escalate_at and skip_above are 0..100")
    return config
