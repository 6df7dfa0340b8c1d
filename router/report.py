"""Plain-text tables and the chat-case figures, shared by the CLI and notebooks."""

from __future__ import annotations

import math
from collections.abc import Sequence

TIER_RANK = {"simple": 0, "medium": 1, "complex": 2}


def fmt(value: object, digits: int = 3) -> str:
    """A cell: floats rounded (NaN as ``-``), everything else ``str``."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return "-" if value is None else str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned first column, right-aligned others, a rule under the header."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(items: Sequence[str]) -> str:
        return "  ".join(
            s.ljust(w) if i == 0 else s.rjust(w) for i, (s, w) in enumerate(zip(items, widths, strict=True))
        )

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in cells)])


def ordering_accuracy(expected: Sequence[str], values: Sequence[float]) -> float:
    """Share of pairs from different expected tiers that the values order correctly (ties count half)."""
    good = 0.0
    pairs = 0
    for i, ti in enumerate(expected):
        for j, tj in enumerate(expected):
            if TIER_RANK[ti] < TIER_RANK[tj]:
                pairs += 1
                good += 1.0 if values[i] < values[j] else 0.5 if values[i] == values[j] else 0.0
    return good / pairs if pairs else math.nan
