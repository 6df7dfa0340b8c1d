"""The fallback chain: which models a request may move to when its own deployments are spent.

A chain configured in ``GATEWAY_CONFIG`` (``[fallbacks]``, model id -> model ids; ``[]`` for
none) wins. Otherwise, when default fallbacks are on, a model falls back to the other catalog
models of the same model tier and complexity, the other providers' first: a provider having a
bad minute is the failure that exhausts every deployment of a model, and the other provider's
model of the same class is the like-for-like replacement (the gateway translates the dialect).

AUTO requests fall back within their complexity first (the same class at the other providers),
then to the nearest complexity (cheaper on a tie), as AUTO's own tier fallback does. Whether the
caller may use a model is the caller's filter (``allowed``), applied before the cap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from gateway.catalog import Catalog
from gateway.config import ModelEntry
from router.complexity import COMPLEXITIES, Complexity


def _other_providers_first(primary: ModelEntry, candidates: list[ModelEntry]) -> list[ModelEntry]:
    # Stable: catalog order within each group.
    return [m for m in candidates if m.provider != primary.provider] + [
        m for m in candidates if m.provider == primary.provider
    ]


def default_chain(catalog: Catalog, primary: ModelEntry) -> list[ModelEntry]:
    """Same model tier and complexity, the other providers' models first."""
    same = [
        m
        for m in catalog.models()
        if m.id != primary.id and m.tier == primary.tier and m.complexity == primary.complexity
    ]
    return _other_providers_first(primary, same)


def auto_chain(catalog: Catalog, primary: ModelEntry, complexity: Complexity) -> list[ModelEntry]:
    """AUTO: the same complexity at the other providers, then the nearest complexities."""
    want = COMPLEXITIES.index(complexity)
    order = sorted(range(len(COMPLEXITIES)), key=lambda i: (abs(i - want), i))
    chain: list[ModelEntry] = []
    for i in order:
        level = [m for m in catalog.models() if m.complexity == COMPLEXITIES[i] and m.id != primary.id]
        chain.extend(_other_providers_first(primary, level))
    return chain


def fallback_chain(
    catalog: Catalog,
    primary: ModelEntry,
    *,
    configured: Mapping[str, Sequence[str]],
    use_defaults: bool,
    auto_complexity: Complexity | None,
    allowed: Callable[[ModelEntry], bool],
    limit: int,
) -> list[ModelEntry]:
    """The models to try after ``primary``, best first, at most ``limit`` of them."""
    if primary.id in configured:
        found = (catalog.get(i) for i in configured[primary.id])
        chain = [m for m in found if m is not None]
    elif not use_defaults:
        chain = []
    elif auto_complexity is not None:
        chain = auto_chain(catalog, primary, auto_complexity)
    else:
        chain = default_chain(catalog, primary)
    seen = {primary.id}
    out: list[ModelEntry] = []
    for m in chain:
        if m.id in seen or not allowed(m):
            continue
        seen.add(m.id)
        out.append(m)
        if len(out) >= limit:
            break
    return out


def check_configured(catalog: Catalog, configured: Mapping[str, Sequence[str]]) -> list[str]:
    """Problems with a configured ``[fallbacks]`` table (unknown model ids), for start-up."""
    problems = []
    for model, chain in configured.items():
        if catalog.get(model) is None:
            problems.append(f"[fallbacks] names model '{model}', which is not in the catalog")
        problems.extend(
            f"[fallbacks] '{model}' falls back to '{m}', which is not in the catalog"
            for m in chain
            if catalog.get(m) is None
        )
    return problems
