"""Money units and their text forms, in one place.

The gateway counts money in integer **millicents** (1 USD = 100 cents = 100,000 millicents)
from the price table to the database, so sums are exact. Dollars appear only at the edges:
budgets stored as ``DECIMAL(10,2)`` dollars, amounts typed by people, and text shown to
people. Every conversion between the two, and every way an amount is written, is here, so
a 402 message, a budget e-mail, a report and the CLI cannot disagree about an amount.

Written forms (all from integer millicents):

* :func:`format_usd` -- ``"$1,234.56"``: for sentences people read (402 messages, alerts).
* :func:`usd_cents_text` -- ``"1234.56"``: two decimals, no sign or separators (admin JSON).
* :func:`usd_exact_text` -- ``"1234.56789"``: five decimals, exact (reports, CSV).
* :func:`usd_float` -- ``1234.56789``: a JSON number, for summaries that are not summed again.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MILLICENTS_PER_USD = 100_000
MILLICENTS_PER_CENT = 1_000


class MoneyError(ValueError):
    """An amount that is not a finite number of dollars, or is finer than a millicent."""


def parse_usd(value: Decimal | str | int | float) -> Decimal:
    """An amount in dollars, as typed or stored, as an exact ``Decimal``.

    Floats go through ``repr`` (the shortest text that round-trips), so ``0.1`` is 0.1.

    Raises:
        MoneyError: If the value is not a finite number.
    """
    if isinstance(value, bool):
        raise MoneyError(f"{value!r} is not an amount in USD")
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else value)
    except (InvalidOperation, ValueError, TypeError):
        raise MoneyError(f"{value!r} is not an amount in USD") from None
    if not amount.is_finite():
        raise MoneyError(f"{value!r} is not an amount in USD")
    return amount


def usd_to_millicents(value: Decimal | str | int | float) -> int:
    """Dollars as integer millicents, exactly (a ``DECIMAL(10,2)`` budget always converts).

    Raises:
        MoneyError: If the amount is not a number or has a fraction of a millicent, which
            would need a rounding nobody chose.
    """
    exact = parse_usd(value) * MILLICENTS_PER_USD
    if exact != exact.to_integral_value():
        raise MoneyError(f"{value} USD is not a whole number of millicents")
    return int(exact)


def millicents_to_usd(millicents: int) -> Decimal:
    """Integer millicents as exact dollars."""
    return Decimal(millicents).scaleb(-5)


def usd_exact_text(millicents: int) -> str:
    """``millicents`` as exact dollar text with five decimals: ``123456789`` -> ``"1234.56789"``."""
    sign = "-" if millicents < 0 else ""
    whole, frac = divmod(abs(millicents), MILLICENTS_PER_USD)
    return f"{sign}{whole}.{frac:05d}"


def usd_cents_text(millicents: int) -> str:
    """``millicents`` as dollars with two decimals, half to even: ``123456789`` -> ``"1234.57"``."""
    return f"{millicents_to_usd(millicents):.2f}"


def format_usd(millicents: int) -> str:
    """``millicents`` as people read dollars: ``123456789`` -> ``"$1,234.57"`` (``"-$0.50"``)."""
    # Decimal's own formatting, not quantize(): it has no 28-digit precision limit.
    return f"{'-' if millicents < 0 else ''}${millicents_to_usd(abs(millicents)):,.2f}"


def usd_float(millicents: int) -> float:
    """``millicents`` as a JSON number of dollars, rounded to the millicent."""
    return round(millicents / MILLICENTS_PER_USD, 5)
