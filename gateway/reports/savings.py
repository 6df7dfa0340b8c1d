"""The counterfactual behind the AUTO savings report: every AUTO request at the complex tier.

AUTO sends easy prompts to cheaper models. Finance wants to see what that saved, so each AUTO
request's recorded tokens are priced again at the model AUTO would pick for a ``complex``
prompt of the same provider (``Catalog.for_complexity(provider, "complex")``). The prices are
resolved here, once per report, and handed to the SQL as arrays; the arithmetic per row is the
same integer arithmetic as :func:`pricing.cost_millicents`, so the figures can be checked by
hand against the price table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from gateway.catalog import Catalog
from pricing import ModelPrice


class Counterfactual(msgspec.Struct, frozen=True):
    """The model and price an AUTO request of ``provider`` is re-priced at."""

    provider: str
    model: str
    price: ModelPrice


def counterfactuals(catalog: Catalog, prices: Mapping[str, ModelPrice | None]) -> list[Counterfactual]:
    """The complex-tier model and its price for every provider that has a priced one.

    A provider without a complex model (or without a price for it) is left out; its AUTO rows
    keep their recorded cost and are counted as ``unpriced_requests``.
    """
    out: list[Counterfactual] = []
    for provider in sorted({m.provider for m in catalog.models()}):
        entry = catalog.for_complexity(provider, "complex")
        if entry is None:
            continue
        price = prices.get(entry.id)
        if price is not None:
            out.append(Counterfactual(provider, entry.id, price))
    return out


def price_params(items: list[Counterfactual]) -> dict[str, Any]:
    """The SQL parameters (parallel arrays) :func:`gateway.reports.query.savings_sql` expects."""
    base = [c.price.rates(0) for c in items]
    long = [c.price.rates(c.price.long_context_threshold + 1) for c in items]
    params: dict[str, Any] = {
        "p_provider": [c.provider for c in items],
        "p_long": [c.price.has_long_context_tier for c in items],
        "p_threshold": [c.price.long_context_threshold for c in items],
    }
    for i, kind in enumerate(("in", "out", "cw", "cr")):
        params[f"p_b_{kind}"] = [r[i] for r in base]
        params[f"p_l_{kind}"] = [r[i] for r in long]
    return params
