"""Model tiers: the organization's allowed tiers, narrowed by the user's groups.

A model's tier comes from the catalog, overridden per organization by
``organizations.model_tier_assignments`` (model id -> tier, or null = disabled). A
request is allowed when that tier is in the organization's ``allowed_tiers`` and, if the
user belongs to groups that set ``allowed_tiers``, in the union of those groups' tiers.
"""

from __future__ import annotations

from gateway.auth.principal import Principal
from gateway.catalog import Catalog
from gateway.config import ModelEntry
from gateway.errors import Forbidden
from router.complexity import COMPLEXITIES, Complexity


def model_tier(principal: Principal, entry: ModelEntry) -> str | None:
    """The model's tier for this organization; None when the organization disabled it."""
    assignments = principal.org.model_tier_assignments
    if entry.id in assignments:
        return assignments[entry.id]
    return entry.tier


def allowed_tiers(principal: Principal) -> frozenset[str]:
    org = frozenset(principal.org.allowed_tiers)
    group_sets = [g.allowed_tiers for g in principal.groups if g.allowed_tiers is not None]
    if not group_sets:
        return org
    union: set[str] = set()
    for tiers in group_sets:
        union.update(tiers)
    return org & union


def is_allowed(principal: Principal, entry: ModelEntry) -> bool:
    tier = model_tier(principal, entry)
    return tier is not None and tier in allowed_tiers(principal)


def check_model(principal: Principal, entry: ModelEntry) -> str:
    """The model's effective tier, or Forbidden naming the model, its tier and what is allowed."""
    tier = model_tier(principal, entry)
    allowed = allowed_tiers(principal)
    shown = ", ".join(sorted(allowed)) or "none"
    if tier is None:
        raise Forbidden(
            f"model '{entry.id}' (catalog tier '{entry.tier}') is disabled for your organization; "
            f"allowed tiers: {shown}",
            code="model_disabled",
        )
    if tier not in allowed:
        raise Forbidden(
            f"model '{entry.id}' is in tier '{tier}', which you may not use; allowed tiers: {shown}",
            code="tier_not_allowed",
        )
    return tier


def pick_auto(
    principal: Principal, catalog: Catalog, provider: str, complexity: Complexity
) -> tuple[ModelEntry, Complexity, bool]:
    """The AUTO model for ``complexity``, or the nearest allowed class.

    Returns ``(model, class_used, fell_back)``. Nearest means fewest steps on the
    simple/medium/complex ladder; on a tie the cheaper (lower) class wins.
    """
    want = COMPLEXITIES.index(complexity)
    order = sorted(range(len(COMPLEXITIES)), key=lambda i: (abs(i - want), i))
    for i in order:
        entry = catalog.for_complexity(provider, COMPLEXITIES[i])
        if entry is not None and is_allowed(principal, entry):
            return entry, COMPLEXITIES[i], i != want
    shown = ", ".join(sorted(allowed_tiers(principal))) or "none"
    raise Forbidden(
        f"AUTO mode found no model you may use for provider '{provider}'; allowed tiers: {shown}",
        code="tier_not_allowed",
    )
