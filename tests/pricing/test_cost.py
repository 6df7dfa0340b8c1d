"""Costs computed to the millicent, checked against arithmetic done by hand.

Unit reminder: a price of ``$p`` per token is ``p x 100,000 x 1,000,000`` millicents per
million tokens, and a cost in millicents is ``sum(tokens x price) / 1,000,000``.
"""

from __future__ import annotations

import random
from decimal import Decimal

import msgspec
import pytest

from pricing import (
    ModelPrice,
    PriceTable,
    Usage,
    cost_breakdown,
    cost_millicents,
    max_cost_millicents,
    usage_from_anthropic,
    usage_from_openai,
)


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


@pytest.fixture(scope="module")
def sonnet(table: PriceTable) -> ModelPrice:
    price = table.get("claude-sonnet-4-5")
    assert price is not None
    return price


@pytest.fixture(scope="module")
def gpt4o(table: PriceTable) -> ModelPrice:
    price = table.get("gpt-4o")
    assert price is not None
    return price


def test_anthropic_cost_by_hand(sonnet: ModelPrice) -> None:
    usage = usage_from_anthropic(
        {
            "input_tokens": 1_000,
            "cache_creation_input_tokens": 2_000,
            "cache_read_input_tokens": 10_000,
            "output_tokens": 500,
        }
    )
    # $3/M input, $3.75/M cache write, $0.30/M cache read, $15/M output, in millicents per million:
    expected_micro = 1_000 * 300_000 + 2_000 * 375_000 + 10_000 * 30_000 + 500 * 1_500_000
    assert expected_micro == 2_100_000_000
    # = $0.003 + $0.0075 + $0.003 + $0.0075 = $0.021 = 2.1 cents = 2,100 millicents.
    assert cost_millicents(sonnet, usage) == 2_100


def test_openai_cost_by_hand_counts_cached_tokens_once(gpt4o: ModelPrice) -> None:
    usage = usage_from_openai(
        {"prompt_tokens": 12_000, "completion_tokens": 700, "prompt_tokens_details": {"cached_tokens": 8_000}}
    )
    # 4,000 uncached at $2.50/M, 8,000 cached at $1.25/M, 700 out at $10/M:
    expected_micro = 4_000 * 250_000 + 8_000 * 125_000 + 700 * 1_000_000
    # = $0.01 + $0.01 + $0.007 = $0.027 = 2,700 millicents.
    assert expected_micro == 2_700_000_000
    assert cost_millicents(gpt4o, usage) == 2_700
    # Double counting (all 12,000 prompt tokens at full price plus the cached ones) would give 3,700.
    assert cost_millicents(gpt4o, usage) != (12_000 * 250_000 + 8_000 * 125_000 + 700 * 1_000_000) // 10**6


@pytest.mark.parametrize(
    ("input_tokens", "expected"),
    [
        (19, 0),  # 19 x 25,000 = 475,000 micro-millicents: 0.475 -> 0
        (20, 1),  # 500,000: exactly one half -> rounds up to 1
        (60, 2),  # 1,500,000: 1.5 -> 2
        (100, 3),  # 2,500,000: 2.5 -> 3 (banker's rounding would give 2)
        (101, 3),  # 2,525,000: 2.525 -> 3
        (139, 3),  # 3,475,000: 3.475 -> 3
    ],
)
def test_rounding_is_half_up(table: PriceTable, input_tokens: int, expected: int) -> None:
    haiku = table.get("claude-3-haiku-20240307")
    assert haiku is not None
    assert haiku.input == 25_000  # 2.5e-07 $/token
    assert cost_millicents(haiku, Usage(input_tokens=input_tokens)) == expected


def test_at_200k_prompt_tokens_the_base_prices_apply(sonnet: ModelPrice) -> None:
    usage = Usage(input_tokens=150_000, cache_read_tokens=50_000, output_tokens=1_000)
    assert usage.total_input_tokens == 200_000
    expected_micro = 150_000 * 300_000 + 50_000 * 30_000 + 1_000 * 1_500_000
    assert cost_millicents(sonnet, usage) == expected_micro // 10**6 == 48_000


def test_above_200k_prompt_tokens_every_kind_uses_the_tier(sonnet: ModelPrice) -> None:
    usage = Usage(input_tokens=150_000, cache_read_tokens=50_001, output_tokens=1_000)
    # $6/M input, $0.60/M cache read, $22.50/M output above 200k:
    expected_micro = 150_000 * 600_000 + 50_001 * 60_000 + 1_000 * 2_250_000
    assert expected_micro == 95_250_060_000
    assert cost_millicents(sonnet, usage) == 95_250


def test_cache_writes_count_towards_the_200k_threshold(sonnet: ModelPrice) -> None:
    usage = Usage(input_tokens=1, cache_write_tokens=200_000)
    expected_micro = 1 * 600_000 + 200_000 * 750_000
    assert expected_micro == 150_000_600_000  # 150,000.6 millicents, rounded half up:
    assert cost_millicents(sonnet, usage) == 150_001


def test_models_without_a_tier_never_switch(gpt4o: ModelPrice) -> None:
    usage = Usage(input_tokens=300_000)
    assert cost_millicents(gpt4o, usage) == 300_000 * 250_000 // 10**6 == 75_000


def test_partial_tier_falls_back_sensibly() -> None:
    price = ModelPrice(input=100, output=1_000, cache_write=125, cache_read=10, input_above_200k=200)
    usage = Usage(
        input_tokens=200_000,
        cache_write_tokens=1_000_000,
        cache_read_tokens=1_000_000,
        output_tokens=1_000_000,
    )
    # Tier input 200; output keeps 1,000; the cache kinds fall back to the tier's input price 200.
    expected_micro = 200_000 * 200 + 1_000_000 * 1_000 + 1_000_000 * 200 + 1_000_000 * 200
    assert cost_millicents(price, usage) == expected_micro // 10**6 == 1_440


def test_zero_usage_costs_nothing(sonnet: ModelPrice) -> None:
    assert cost_millicents(sonnet, Usage()) == 0


def test_breakdown_is_exact_per_kind(sonnet: ModelPrice) -> None:
    usage = Usage(input_tokens=1_001, cache_write_tokens=3, cache_read_tokens=7, output_tokens=333)
    b = cost_breakdown(sonnet, usage)
    assert b.input == Decimal("300.3")  # 1,001 x 300,000 / 10**6
    assert b.cache_write == Decimal("1.125")  # 3 x 375,000 / 10**6
    assert b.cache_read == Decimal("0.21")  # 7 x 30,000 / 10**6
    assert b.output == Decimal("499.5")  # 333 x 1,500,000 / 10**6
    assert b.total == Decimal("801.135")
    assert b.millicents == 801 == cost_millicents(sonnet, usage)
    assert b.long_context is False
    encoded = msgspec.json.decode(msgspec.json.encode(b))
    # Always six decimals: the exact resolution (one micro-millicent) is kept in reports.
    assert encoded["total"] == "801.135000"


def test_breakdown_reports_the_long_context_tier(sonnet: ModelPrice) -> None:
    usage = Usage(input_tokens=200_001, output_tokens=1)
    b = cost_breakdown(sonnet, usage)
    assert b.long_context is True
    assert b.input == Decimal(200_001 * 600_000).scaleb(-6)
    assert b.output == Decimal("2.25")


def test_breakdown_matches_cost_on_random_usages(table: PriceTable) -> None:
    rng = random.Random(20240601)
    models = ["claude-sonnet-4-5", "gpt-4o", "claude-3-haiku-20240307", "gpt-4o-mini", "claude-opus-4-1"]
    for _ in range(2_000):
        price = table.get(rng.choice(models))
        assert price is not None
        usage = Usage(
            input_tokens=rng.randrange(0, 150_000),
            output_tokens=rng.randrange(0, 64_000),
            cache_write_tokens=rng.randrange(0, 60_000),
            cache_read_tokens=rng.randrange(0, 60_000),
        )
        b = cost_breakdown(price, usage)
        assert b.total == b.input + b.output + b.cache_write + b.cache_read
        # Independent rounding: Decimal's own ROUND_HALF_UP on the exact total.
        assert cost_millicents(price, usage) == int(b.total.quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def test_max_cost_by_hand(sonnet: ModelPrice, gpt4o: ModelPrice) -> None:
    # Prompt at the dearest input kind (a one-hour cache write, $6/M) plus output at $15/M:
    assert max_cost_millicents(sonnet, 10_000, 1_000) == (10_000 * 600_000 + 1_000 * 1_500_000) // 10**6 == 7_500
    # One gpt-4o input token is 250,000 micro-millicents: a quarter millicent rounds UP to 1.
    assert max_cost_millicents(gpt4o, 1, 0) == 1
    assert max_cost_millicents(gpt4o, 0, 0) == 0
    # Above 200k the tier prices apply: $12/M one-hour cache write and $22.50/M output.
    assert max_cost_millicents(sonnet, 200_001, 10) == -(-(200_001 * 1_200_000 + 10 * 2_250_000) // 10**6) == 240_024


def test_max_cost_bounds_every_usage_within_the_estimate(table: PriceTable) -> None:
    rng = random.Random(7)
    for name in ("claude-sonnet-4-5", "gpt-4o", "claude-opus-4-1"):
        price = table.get(name)
        assert price is not None
        for _ in range(1_000):
            estimate = rng.randrange(0, 400_000)
            max_out = rng.randrange(0, 64_000)
            cached = rng.randrange(0, estimate + 1)
            written = rng.randrange(0, estimate - cached + 1)
            usage = Usage(
                input_tokens=rng.randrange(0, estimate - cached - written + 1),
                cache_read_tokens=cached,
                cache_write_tokens=written,
                output_tokens=rng.randrange(0, max_out + 1),
            )
            assert cost_millicents(price, usage) <= max_cost_millicents(price, estimate, max_out)


def test_max_cost_rejects_negative_estimates(gpt4o: ModelPrice) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        max_cost_millicents(gpt4o, -1, 10)


def test_one_hour_cache_writes_by_hand(sonnet: ModelPrice) -> None:
    """Anthropic bills one-hour cache writes at 2x input ($6/M on Sonnet 4.5), five-minute ones at 1.25x."""
    usage = Usage(input_tokens=1_000, cache_write_tokens=3_000, cache_write_1h_tokens=1_000, output_tokens=100)
    # 1,000 * 300,000 + 2,000 * 375,000 + 1,000 * 600,000 + 100 * 1,500,000 = 1,800,000,000 -> 1,800.
    assert cost_millicents(sonnet, usage) == 1_800
    assert cost_breakdown(sonnet, usage).cache_write == Decimal("1350.000000")
    # Without the one-hour split the same tokens would be under-billed by 225 millicents.
    flat = Usage(input_tokens=1_000, cache_write_tokens=3_000, output_tokens=100)
    assert cost_millicents(sonnet, flat) == 1_575


def test_one_hour_price_falls_back_to_twice_input() -> None:
    price = ModelPrice(input=100_000, output=500_000, cache_write=125_000, cache_read=10_000)
    usage = Usage(cache_write_tokens=10, cache_write_1h_tokens=10)
    assert cost_millicents(price, usage) == 10 * 200_000 // 1_000_000


def test_gpt_5_5_long_context_tier_starts_above_272k(table: PriceTable) -> None:
    """litellm prices GPT-5.x above 272k prompt tokens (not Anthropic's 200k): input x2, output x1.5."""
    price = table.get("gpt-5.5")
    assert price is not None
    assert price.long_context_threshold == 272_000
    long = usage_from_openai({"prompt_tokens": 300_000, "completion_tokens": 1_000,
                              "prompt_tokens_details": {"cached_tokens": 100_000}})  # fmt: skip
    # 200,000 * 1,000,000 + 100,000 * 100,000 + 1,000 * 4,500,000 = 214,500,000,000 -> 214,500.
    assert cost_millicents(price, long) == 214_500
    at_threshold = Usage(input_tokens=272_000, output_tokens=1_000)
    # Exactly 272,000 stays on base prices: 272,000 * 500,000 + 1,000 * 3,000,000 = 139,000,000,000 -> 139,000.
    assert cost_millicents(price, at_threshold) == 139_000
