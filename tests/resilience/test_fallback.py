"""The fallback chain: configured, default (same tier and complexity), AUTO, caller's filter."""

from __future__ import annotations

from gateway.catalog import DEFAULT_MODELS, Catalog
from gateway.config import ModelEntry
from gateway.resilience.fallback import check_configured, fallback_chain

CAT = Catalog(DEFAULT_MODELS)


def chain(model: str, **kw: object) -> list[str]:
    entry = CAT.get(model)
    assert entry is not None
    args: dict[str, object] = {
        "configured": {},
        "use_defaults": True,
        "auto_complexity": None,
        "allowed": lambda m: True,
        "limit": 2,
    }
    args.update(kw)
    return [m.id for m in fallback_chain(CAT, entry, **args)]  # type: ignore[arg-type]


def test_default_is_the_same_class_at_the_other_provider() -> None:
    assert chain("claude-sonnet-5") == ["gpt-5.4"]
    assert chain("gpt-5.5") == ["claude-opus-5"]


def test_default_without_complexity_prefers_the_other_provider() -> None:
    assert chain("gpt-4.1", limit=5) == ["claude-sonnet-4-6", "claude-sonnet-4-5", "claude-sonnet-4-20250514"]
    assert chain("claude-sonnet-4-6", limit=2) == ["gpt-4.1", "claude-sonnet-4-5"]


def test_configured_chain_wins_and_empty_means_none() -> None:
    assert chain("gpt-5.4", configured={"gpt-5.4": ["gpt-4.1", "claude-opus-5"]}) == ["gpt-4.1", "claude-opus-5"]
    assert chain("gpt-5.4", configured={"gpt-5.4": []}) == []


def test_defaults_off() -> None:
    assert chain("gpt-5.4", use_defaults=False) == []


def test_auto_stays_in_its_complexity_first() -> None:
    assert chain("claude-haiku-4-5", auto_complexity="simple", limit=3) == [
        "gpt-5.4-mini",
        "gpt-5.4",  # nearest complexity next: medium, other provider first
        "claude-sonnet-5",
    ]


def test_the_callers_tiers_filter_the_chain() -> None:
    def basic_only(m: ModelEntry) -> bool:
        return m.tier == "basic"

    assert chain("claude-haiku-4-5", auto_complexity="simple", allowed=basic_only, limit=3) == ["gpt-5.4-mini"]


def test_unknown_ids_are_reported() -> None:
    problems = check_configured(CAT, {"nope": [], "gpt-5.4": ["gone"]})
    assert len(problems) == 2 and "nope" in problems[0] and "gone" in problems[1]
