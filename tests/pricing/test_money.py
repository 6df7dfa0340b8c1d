"""pricing.money: the one conversion between millicents and dollars, and its text forms."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pricing.money import (
    MILLICENTS_PER_USD,
    MoneyError,
    format_usd,
    millicents_to_usd,
    parse_usd,
    usd_cents_text,
    usd_exact_text,
    usd_float,
    usd_to_millicents,
)


def test_one_dollar_is_100000_millicents() -> None:
    assert MILLICENTS_PER_USD == 100_000
    assert usd_to_millicents(Decimal("1.00")) == 100_000
    assert usd_to_millicents("12.34") == 1_234_000
    assert usd_to_millicents(0.1) == 10_000  # through repr, not the binary float
    assert millicents_to_usd(1_234_567) == Decimal("12.34567")


def test_round_trip_is_exact_for_every_cent_budget() -> None:
    for cents in (0, 1, 99, 100, 9_999_999_999):  # up to DECIMAL(10,2)'s largest
        usd = Decimal(cents).scaleb(-2)
        assert millicents_to_usd(usd_to_millicents(usd)) == usd


@pytest.mark.parametrize("bad", ["", "abc", "NaN", "Infinity", "1e", True])
def test_parse_refuses_what_is_not_an_amount(bad: object) -> None:
    with pytest.raises(MoneyError):
        parse_usd(bad)  # type: ignore[arg-type]


def test_fractions_of_a_millicent_are_refused_not_rounded() -> None:
    with pytest.raises(MoneyError, match="millicents"):
        usd_to_millicents("0.000001")


def test_people_read_dollars_with_separators() -> None:
    assert format_usd(123_456_789) == "$1,234.57"
    assert format_usd(0) == "$0.00"
    assert format_usd(-50_000) == "-$0.50"
    # No 28-digit precision limit: absurd amounts still format instead of raising.
    assert format_usd(5 * 10**27 * MILLICENTS_PER_USD) == "$5,000,000,000,000,000,000,000,000,000.00"


def test_machine_forms() -> None:
    assert usd_exact_text(123_456_789) == "1234.56789"
    assert usd_exact_text(-123) == "-0.00123"
    assert usd_exact_text(5) == "0.00005"
    assert usd_cents_text(123_456_789) == "1234.57"
    assert usd_cents_text(1_500) == "0.02"  # half to even: 0.015 -> 0.02
    assert usd_cents_text(2_500) == "0.02"  # 0.025 -> 0.02
    assert usd_float(1_234) == 0.01234
