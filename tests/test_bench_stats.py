"""The bench's statistics: the median of per-round values and its bootstrap interval."""

from __future__ import annotations

from tests.perf.chaos import paired_cost
from tests.perf.results import median_interval


def test_median_interval_brackets_the_median_and_narrows_with_agreeing_rounds() -> None:
    noisy = [0.91, 0.70, 0.69, 0.77, 0.82, 0.56]
    m, low, high = median_interval(noisy) or (0.0, 0.0, 0.0)
    assert m == 0.735 and low <= m <= high
    assert min(noisy) <= low and high <= max(noisy)
    steady = median_interval([0.95, 0.95, 0.96, 0.94, 0.95, 0.95])
    assert steady is not None and steady[2] - steady[1] < (high - low) / 5
    assert median_interval([]) is None
    assert median_interval([1.0]) == (1.0, 1.0, 1.0)


def test_paired_cost_is_per_round_on_against_off() -> None:
    # (off, on) per round: the machine slows between rounds, the cost stays 10% in each.
    got = paired_cost([(4000.0, 3600.0), (3000.0, 2700.0), (5000.0, 4500.0)])
    assert got is not None
    cost, (low, high) = got
    assert abs(cost - 10.0) < 1e-9 and abs(low - 10.0) < 1e-9 and abs(high - 10.0) < 1e-9
    assert paired_cost([]) is None
