"""Exact integer prices from litellm's bundled map, and the lookup table with overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from pricing import ModelPrice, PriceError, PriceTable, bundled_price_file, millicents_per_million

STANDARD_KEYS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_creation_input_token_cost",
    "cache_read_input_token_cost",
)
ALL_PRICE_KEYS = (
    *STANDARD_KEYS,
    *(f"{key}_above_200k_tokens" for key in ("input_cost_per_token", "output_cost_per_token")),
    *(f"{key}_above_200k_tokens" for key in STANDARD_KEYS[2:]),
)


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


@pytest.fixture(scope="module")
def raw_file() -> dict[str, dict[str, object]]:
    """The map decoded independently of the code under test (stdlib json, exact Decimals)."""
    data: dict[str, dict[str, object]] = json.loads(bundled_price_file().read_text(), parse_float=Decimal)
    return data


def test_float_prices_convert_through_their_shortest_repr() -> None:
    # $3 per million tokens = 300 cents = 300,000 millicents per million tokens.
    assert millicents_per_million(3e-06, model="m", field="f") == 300_000
    # A naive float product is often off (250000.00000000003), which is why the conversion
    # goes through the float's shortest repr instead.
    assert 2.5e-06 * 10**11 != 250_000
    assert millicents_per_million(2.5e-06, model="m", field="f") == 250_000
    assert millicents_per_million(1.25e-06, model="m", field="f") == 125_000
    assert millicents_per_million(3.75e-06, model="m", field="f") == 375_000
    assert millicents_per_million(Decimal("3E-7"), model="m", field="f") == 30_000
    assert millicents_per_million("0.000015", model="m", field="f") == 1_500_000
    assert millicents_per_million(0, model="m", field="f") == 0


def test_prices_finer_than_a_millicent_per_million_raise_naming_the_model() -> None:
    with pytest.raises(PriceError, match=r"my-model: cache_read_input_token_cost .*not an integer"):
        millicents_per_million(5.46875e-07, model="my-model", field="cache_read_input_token_cost")
    with pytest.raises(PriceError, match="odd-model"):
        millicents_per_million(Decimal("0.0000029999900000000002"), model="odd-model", field="x")


@pytest.mark.parametrize("bad", [-1e-06, float("nan"), float("inf"), "abc", True])
def test_invalid_prices_raise(bad: float | str | bool) -> None:
    with pytest.raises(PriceError, match="m1"):
        millicents_per_million(bad, model="m1", field="f")


def test_model_price_rejects_negative_or_non_int_prices() -> None:
    with pytest.raises(PriceError, match="cache_read"):
        ModelPrice(input=1, output=1, cache_write=1, cache_read=-1)
    with pytest.raises(PriceError, match="output"):
        ModelPrice(input=1, output=1.5, cache_write=1, cache_read=1)  # type: ignore[arg-type]


def test_anthropic_model_from_the_file(table: PriceTable) -> None:
    # claude-sonnet-4-5: 3e-06, 1.5e-05, 3.75e-06, 3e-07 $/token; 2x input/cache above 200k.
    assert table.get("claude-sonnet-4-5") == ModelPrice(
        input=300_000,
        output=1_500_000,
        cache_write=375_000,
        cache_read=30_000,
        input_above_200k=600_000,
        output_above_200k=2_250_000,
        cache_write_above_200k=750_000,
        cache_read_above_200k=60_000,
        cache_write_1h=600_000,
        cache_write_1h_above_200k=1_200_000,
    )


def test_openai_model_cache_write_falls_back_to_input_price(table: PriceTable) -> None:
    price = table.get("gpt-4o")
    # gpt-4o: 2.5e-06 input, 1.25e-06 cached, 1e-05 output; no cache-write price in the file.
    assert price == ModelPrice(input=250_000, output=1_000_000, cache_write=250_000, cache_read=125_000)
    assert price is not None
    assert not price.has_long_context_tier


def test_missing_cache_read_falls_back_to_input_price_never_zero(
    table: PriceTable, raw_file: dict[str, dict[str, object]]
) -> None:
    name = "gpt-3.5-turbo"
    entry = raw_file[name]
    assert "cache_read_input_token_cost" not in entry
    price = table.get(name)
    assert price is not None
    assert price.cache_read == price.input == 50_000  # 5e-07 $/token
    assert price.cache_write == price.input


def test_unknown_model_is_none(table: PriceTable) -> None:
    assert table.get("no-such-model-xyz") is None
    assert "no-such-model-xyz" not in table
    assert "anthropic/no-such-model-xyz" not in table


def test_provider_prefixed_names_resolve_to_bare_keys(table: PriceTable) -> None:
    assert table.get("anthropic/claude-sonnet-4-5") == table.get("claude-sonnet-4-5")
    assert table.get("openai/gpt-4o") == table.get("gpt-4o")
    assert "openai/gpt-4o" in table
    # Other providers' prefixes are real keys of their own, not aliases.
    assert "vertex_ai/claude-sonnet-4-5" in table
    assert table.get("bedrock/claude-sonnet-4-5") is None


def test_non_models_are_not_in_the_table(table: PriceTable) -> None:
    assert "sample_spec" not in table
    # Image-only pricing (per image, no per-token prices) is not a token-priced model.
    assert table.get("dall-e-3") is None


def test_overrides_beat_the_file_under_every_spelling() -> None:
    mine = ModelPrice(input=1, output=2, cache_write=3, cache_read=4)
    table = PriceTable.load(overrides={"claude-sonnet-4-5": mine, "openai/house-model": mine})
    assert table.get("claude-sonnet-4-5") == mine
    assert table.get("anthropic/claude-sonnet-4-5") == mine
    assert table.get("house-model") == mine
    assert "house-model" in table
    assert table.get("gpt-4o") is not None
    assert table.get("gpt-4o") != mine

    prefixed = PriceTable.load(overrides={"anthropic/claude-sonnet-4-5": mine})
    assert prefixed.get("claude-sonnet-4-5") == mine


def _exact_in_millicents(entry: dict[str, object]) -> bool:
    """Whether every per-token price of an entry is a whole number of millicents per million."""
    values = [Decimal(str(entry[key])) * 10**11 for key in ALL_PRICE_KEYS if entry.get(key) is not None]
    return all(v == v.to_integral_value() for v in values)


def test_every_price_in_the_file_converts_exactly_or_is_rejected_with_reason(
    table: PriceTable, raw_file: dict[str, dict[str, object]]
) -> None:
    checked = 0
    for model, entry in raw_file.items():
        if model == "sample_spec" or not all(key in entry for key in STANDARD_KEYS):
            continue
        if model in table.rejected:
            assert not _exact_in_millicents(entry), model
            assert model in table.rejected[model]
            continue
        assert _exact_in_millicents(entry), model
        price = table.get(model)
        assert price is not None, model
        expected = tuple(int(Decimal(str(entry[key])) * 10**11) for key in STANDARD_KEYS)
        assert (price.input, price.output, price.cache_write, price.cache_read) == expected, model
        checked += 1
    assert checked > 250


def test_rejections_are_few_and_spare_the_first_party_providers(
    table: PriceTable, raw_file: dict[str, dict[str, object]]
) -> None:
    # The file has float noise (e.g. 0.0000029999900000000002) in a few resellers' entries.
    assert 0 < len(table.rejected) < 100
    for model in table.rejected:
        assert raw_file[model].get("litellm_provider") not in {"anthropic", "openai"}, model
    first_party = [m for m, e in raw_file.items() if e.get("litellm_provider") in {"anthropic", "openai"}]
    priced = [
        m for m in first_party if "input_cost_per_token" in raw_file[m] and "output_cost_per_token" in raw_file[m]
    ]
    assert len(priced) > 100
    assert all(m in table for m in priced)


def test_load_from_an_explicit_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "good": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
                "noisy": {"input_cost_per_token": 1.0000000000000001e-07, "output_cost_per_token": 2e-06},
                "stringy": {"input_cost_per_token": [1], "output_cost_per_token": 2e-06},
                "image-only": {"output_cost_per_image": 0.04},
            }
        )
    )
    table = PriceTable.load(path=path)
    assert table.get("good") == ModelPrice(input=100_000, output=200_000, cache_write=100_000, cache_read=100_000)
    assert set(table.rejected) == {"noisy", "stringy"}
    assert "noisy" not in table
    assert "image-only" not in table
    assert len(table) == 1


def test_loading_never_imports_litellm_or_gateway() -> None:
    code = (
        "import sys\n"
        "from pricing import PriceTable\n"
        "t = PriceTable.load()\n"
        "assert t.get('gpt-4o') is not None\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'litellm', 'gateway'})\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
