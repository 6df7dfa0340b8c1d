"""The optional ``GATEWAY_CONFIG`` TOML file.

Decoded with unknown fields refused, so a typo in an operator's file is an error at
start-up rather than a setting silently ignored. Example::

    [router]
    auto_provider = "dialect"      # or "anthropic" / "openai": where AUTO sends requests

    [providers.vllm]               # any OpenAI-compatible server
    dialect = "openai"
    base_url = "http://127.0.0.1:8000/v1"

    [[models]]                     # adds a model, or replaces a built-in one with the same id
    id = "llama-3-8b"
    provider = "vllm"
    upstream = "meta-llama/Meta-Llama-3-8B-Instruct"
    tier = "basic"

    [prices."llama-3-8b"]          # millicents per million tokens
    input = 0
    output = 0
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from gateway.model_tier import ModelTier
from router.complexity import Complexity

Dialect = Literal["openai", "anthropic"]


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


class ProviderEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An extra provider speaking one of the two dialects."""

    dialect: Dialect
    base_url: str
    api_key: str | None = None


class PriceEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A price override, in millicents per million tokens."""

    input: int
    output: int
    cache_write: int | None = None
    cache_read: int | None = None


class RouterSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # "dialect": the client's dialect picks the provider; or a provider name.
    auto_provider: str = "dialect"


class GatewayConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    models: list[ModelEntry] = msgspec.field(default_factory=list)
    providers: dict[str, ProviderEntry] = msgspec.field(default_factory=dict)
    prices: dict[str, PriceEntry] = msgspec.field(default_factory=dict)
    router: RouterSection = msgspec.field(default_factory=RouterSection)


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
        return msgspec.toml.decode(raw, type=GatewayConfig)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError(f"GATEWAY_CONFIG {path!r}: {exc}") from exc
