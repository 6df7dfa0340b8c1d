"""Exact request cost in integer millicents.

Prices are integer millicents per million tokens and token counts are integers, so the exact
cost is an integer number of micro-millicents; it is rounded once, half up, to whole
millicents. No floats anywhere, so the sum of stored costs is the cost of the sum.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from pricing.prices import ModelPrice
from pricing.usage import Usage

__all__ = ["CostBreakdown", "cost_breakdown", "cost_millicents", "max_cost_millicents"]

_PER_MILLION = 1_000_000
_HALF = _PER_MILLION // 2


def _round_half_up(micro: int) -> int:
    """Millicents from a non-negative count of micro-millicents, halves rounded up."""
    whole, rest = divmod(micro, _PER_MILLION)
    return whole + (rest >= _HALF)


def cost_millicents(price: ModelPrice, usage: Usage) -> int:
    """The cost of ``usage`` at ``price``, in millicents, rounded half up.

    Each of the four disjoint token kinds is billed at its own price; when the whole prompt
    exceeds 200,000 tokens and the model has a long-context tier, every kind uses the tier's
    prices (see :meth:`ModelPrice.rates`).
    """
    return _round_half_up(sum(_parts(price, usage)))


def _parts(price: ModelPrice, usage: Usage) -> tuple[int, int, int, int]:
    """Exact micro-millicents per kind: input, output, cache write (5-minute + 1-hour), cache read."""
    total_in = usage.total_input_tokens
    rate_in, rate_out, rate_cw, rate_cr = price.rates(total_in)
    one_hour = usage.cache_write_1h_tokens
    writes = (usage.cache_write_tokens - one_hour) * rate_cw
    if one_hour:
        writes += one_hour * price.rate_cache_write_1h(total_in)
    return (
        usage.input_tokens * rate_in,
        usage.output_tokens * rate_out,
        writes,
        usage.cache_read_tokens * rate_cr,
    )


class CostBreakdown(msgspec.Struct, frozen=True, kw_only=True):
    """Exact, unrounded cost per token kind, for reports and audits.

    Each part is an exact Decimal number of millicents (a token count times an integer price,
    divided by a power of ten, is always exact in Decimal), always with six decimal places:
    the exact resolution is one micro-millicent, and a fixed scale keeps report columns
    aligned and comparable as text.

    Attributes:
        input: Uncached input cost.
        output: Output cost.
        cache_write: Cache-write cost.
        cache_read: Cache-read cost.
        total: Sum of the four parts, unrounded.
        millicents: ``total`` rounded half up, equal to :func:`cost_millicents`.
        long_context: Whether the long-context (above 200k) prices were applied.
    """

    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal
    total: Decimal
    millicents: int
    long_context: bool


def _exact(micro: int) -> Decimal:
    return Decimal(micro).scaleb(-6)


def cost_breakdown(price: ModelPrice, usage: Usage) -> CostBreakdown:
    """The exact cost of ``usage`` at ``price``, per token kind, before rounding."""
    parts = _parts(price, usage)
    micro = sum(parts)
    return CostBreakdown(
        input=_exact(parts[0]),
        output=_exact(parts[1]),
        cache_write=_exact(parts[2]),
        cache_read=_exact(parts[3]),
        total=_exact(micro),
        millicents=_round_half_up(micro),
        long_context=price.has_long_context_tier and usage.total_input_tokens > price.long_context_threshold,
    )


def max_cost_millicents(price: ModelPrice, input_tokens_estimate: int, max_output_tokens: int) -> int:
    """Worst-case cost for a budget reservation, rounded up.

    The prompt estimate is priced at the dearest input kind of the tier it falls in (a prompt
    may be written to the cache, and Anthropic cache writes cost more than plain input), and the
    output at the tier's output price, so the result bounds :func:`cost_millicents` for any
    usage whose prompt is at most ``input_tokens_estimate`` tokens, however it splits between
    cached and uncached, and whose output is at most ``max_output_tokens``.

    Raises:
        ValueError: If either count is negative.
    """
    if input_tokens_estimate < 0 or max_output_tokens < 0:
        raise ValueError("token estimates must be non-negative")
    rate_in, rate_out, rate_cw, rate_cr = price.rates(input_tokens_estimate)
    dearest = max(rate_in, rate_cw, rate_cr)
    if price.cache_write_1h is not None:  # the model offers one-hour cache writes: they may be used
        dearest = max(dearest, price.rate_cache_write_1h(input_tokens_estimate))
    micro = input_tokens_estimate * dearest + max_output_tokens * rate_out
    return -(-micro // _PER_MILLION)
