"""The model catalog: which models exist, who serves them, and at what tier.

Built-in defaults cover a Haiku-, Sonnet- and Opus-class Anthropic model and a basic,
standard and premium OpenAI model; the ``GATEWAY_CONFIG`` file adds models or replaces
built-in ones by id. The catalog is immutable once built.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.config import ModelEntry
from router.complexity import Complexity

AUTO_MODEL = "auto"

# AUTO picks the current Haiku/Sonnet/Opus-class and basic/standard/premium models (priced in
# litellm's map and not on the SDKs' deprecation lists as of 2026-11); the others stay available
# by name. GATEWAY_CONFIG can replace any entry. Output limits are the providers' published maxima
# for these families (Claude 4.x: 64k; GPT-5 family: 128k; GPT-4.1: 32k; GPT-4o mini: 16k).
DEFAULT_MODELS: tuple[ModelEntry, ...] = (
    ModelEntry("claude-haiku-4-5", "anthropic", "claude-haiku-4-5", "basic", "simple", max_output_tokens=64_000),
    ModelEntry("claude-sonnet-5", "anthropic", "claude-sonnet-5", "standard", "medium", max_output_tokens=64_000),
    ModelEntry("claude-opus-5", "anthropic", "claude-opus-5", "premium", "complex", max_output_tokens=64_000),
    ModelEntry("claude-sonnet-4-6", "anthropic", "claude-sonnet-4-6", "standard", max_output_tokens=64_000),
    ModelEntry("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", "standard", max_output_tokens=64_000),
    ModelEntry(
        "claude-sonnet-4-20250514", "anthropic", "claude-sonnet-4-20250514", "standard", max_output_tokens=64_000
    ),
    ModelEntry("claude-opus-4-7", "anthropic", "claude-opus-4-7", "premium", max_output_tokens=64_000),
    ModelEntry("claude-opus-4-5", "anthropic", "claude-opus-4-5", "premium", max_output_tokens=64_000),
    ModelEntry("gpt-5.4-mini", "openai", "gpt-5.4-mini", "basic", "simple", max_output_tokens=128_000),
    ModelEntry("gpt-5.4", "openai", "gpt-5.4", "standard", "medium", max_output_tokens=128_000),
    ModelEntry("gpt-5.5", "openai", "gpt-5.5", "premium", "complex", max_output_tokens=128_000),
    ModelEntry("gpt-4o-mini", "openai", "gpt-4o-mini", "basic", max_output_tokens=16_384),
    ModelEntry("gpt-4.1", "openai", "gpt-4.1", "standard", max_output_tokens=32_768),
    ModelEntry("gpt-5", "openai", "gpt-5", "premium", max_output_tokens=128_000),
)


class Catalog:
    """Model lookup by id, and the AUTO class table per provider."""

    def __init__(self, models: Iterable[ModelEntry]) -> None:
        by_id: dict[str, ModelEntry] = {}
        for m in models:
            by_id[m.id] = m
        self._by_id = by_id
        auto: dict[tuple[str, Complexity], ModelEntry] = {}
        for m in by_id.values():
            if m.complexity is not None:
                auto.setdefault((m.provider, m.complexity), m)
        self._auto = auto

    @classmethod
    def with_overrides(cls, overrides: Iterable[ModelEntry]) -> Catalog:
        return cls([*DEFAULT_MODELS, *overrides])

    def get(self, model_id: str) -> ModelEntry | None:
        return self._by_id.get(model_id)

    def models(self) -> list[ModelEntry]:
        return list(self._by_id.values())

    def for_complexity(self, provider: str, complexity: Complexity) -> ModelEntry | None:
        """The model serving ``complexity`` requests for ``provider`` in AUTO mode."""
        return self._auto.get((provider, complexity))
