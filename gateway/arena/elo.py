"""Online Elo updates for one user's ranking table (K = 32, start 1500, as the seed documents)."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.arena.outcomes import Verdict, pairwise

K_FACTOR = 32.0
START = 1500.0


def expected(ra: float, rb: float) -> float:
    """The probability that a player rated ``ra`` beats one rated ``rb``."""
    return float(1.0 / (1.0 + 10.0 ** ((rb - ra) / 400.0)))


def update(ratings: Mapping[str, float], verdict: Verdict, k: float = K_FACTOR) -> dict[str, float]:
    """The ratings after the verdict; every pair is scored against the ratings before it.

    Scoring all pairs against the old ratings keeps the result independent of the order in
    which a multi-model battle's pairs are visited.
    """
    before = {m: float(ratings.get(m, START)) for m in verdict.models}
    after = dict(before)
    for a, b, score in pairwise(verdict):
        e = expected(before[a], before[b])
        after[a] += k * (score - e)
        after[b] -= k * (score - e)
    return after
