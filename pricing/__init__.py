"""Exact request cost in integer millicents (1000 millicents = 1 cent; 1 USD = 100,000).

Pure: no network and no imports from ``gateway``; the only I/O is reading the price map that
ships inside the installed ``litellm`` package (never importing ``litellm`` itself).

* :mod:`pricing.usage`: :class:`Usage`, four disjoint token kinds, and the normalizers for
  the Anthropic and OpenAI dialects (which count cached prompt tokens differently).
* :mod:`pricing.prices`: :class:`ModelPrice` in integer millicents per million tokens and the
  :class:`PriceTable` of litellm's map plus configured overrides.
* :mod:`pricing.cost`: :func:`cost_millicents`, :func:`cost_breakdown` and
  :func:`max_cost_millicents` for budget reservations.
* :mod:`pricing.money`: the one place that converts millicents to and from dollars and
  writes amounts as text (``"$1,234.56"`` in messages, exact decimals in reports).
"""

from pricing.cost import CostBreakdown, cost_breakdown, cost_millicents, max_cost_millicents
from pricing.prices import (
    LONG_CONTEXT_THRESHOLD,
    ModelPrice,
    PriceError,
    PriceTable,
    bundled_price_file,
    millicents_per_million,
    price_from_litellm_entry,
)
from pricing.usage import (
    Usage,
    merge_anthropic,
    to_anthropic_usage,
    to_openai_usage,
    usage_from_anthropic,
    usage_from_openai,
)

__all__ = [
    "LONG_CONTEXT_THRESHOLD",
    "CostBreakdown",
    "ModelPrice",
    "PriceError",
    "PriceTable",
    "Usage",
    "bundled_price_file",
    "cost_breakdown",
    "cost_millicents",
    "max_cost_millicents",
    "merge_anthropic",
    "millicents_per_million",
    "price_from_litellm_entry",
    "to_anthropic_usage",
    "to_openai_usage",
    "usage_from_anthropic",
    "usage_from_openai",
]
