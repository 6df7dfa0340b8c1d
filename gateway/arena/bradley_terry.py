"""The organization's ranking: a Bradley-Terry fit over its votes, with bootstrap intervals.

The fit is ``choix.ilsr_pairwise_dense`` (maximum likelihood by iterative Luce spectral
ranking) on a matrix of pairwise wins where a draw counts half a win each way. Intervals
come from refitting on votes resampled with replacement (a percentile bootstrap over
votes, so the several pairs of one multi-model vote move together). Strengths are
reported on the Elo scale: ``1500 + 400 * log10(e) * theta``, theta centred on zero.

Pure: plain values in, plain values out; the seed makes results repeatable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import choix
import numpy as np

from gateway.arena.outcomes import Verdict, pairwise

ELO_PER_NAT = 400.0 / math.log(10.0)
ELO_BASE = 1500.0
# A small prior (pseudo-comparisons between every pair) keeps the fit finite when a model
# never lost or never won; at a few dozen votes per pair its pull is negligible.
ALPHA = 0.01


@dataclass(frozen=True, slots=True)
class Strength:
    model: str
    rating: float  # Elo scale
    lower: float  # bootstrap interval (Elo scale)
    upper: float
    votes: int  # verdicts this model took part in


def to_elo(theta: float) -> float:
    return ELO_BASE + ELO_PER_NAT * theta


def _vote_matrices(verdicts: Sequence[Verdict], index: dict[str, int]) -> np.ndarray:
    """One ``n x n`` win matrix per verdict, stacked: ``out[v, i, j]`` = wins of i over j."""
    n = len(index)
    out = np.zeros((len(verdicts), n, n), dtype=np.float64)
    for v, verdict in enumerate(verdicts):
        for a, b, score in pairwise(verdict):
            out[v, index[a], index[b]] += score
            out[v, index[b], index[a]] += 1.0 - score
    return out


def _fit(comp: np.ndarray) -> np.ndarray:
    params: np.ndarray = choix.ilsr_pairwise_dense(comp, alpha=ALPHA, max_iter=500)
    centred: np.ndarray = params - params.mean()
    return centred


def fit(verdicts: Sequence[Verdict], *, rounds: int = 200, level: float = 0.95, seed: int = 0) -> list[Strength]:
    """Strengths of every model in ``verdicts``, best first (empty input: empty list)."""
    models = sorted({m for v in verdicts for m in v.models})
    if len(models) < 2:
        return []
    index = {m: i for i, m in enumerate(models)}
    per_vote = _vote_matrices(verdicts, index)
    theta = _fit(per_vote.sum(axis=0))
    rng = np.random.default_rng(seed)
    draws = np.empty((rounds, len(models)))
    for r in range(rounds):
        # Resampling as counts per vote: one weighted sum instead of a copy of the votes.
        counts = rng.multinomial(len(verdicts), np.full(len(verdicts), 1.0 / len(verdicts)))
        draws[r] = _fit(np.tensordot(counts.astype(np.float64), per_vote, axes=1))
    tail = (1.0 - level) / 2.0
    lower = np.quantile(draws, tail, axis=0)
    upper = np.quantile(draws, 1.0 - tail, axis=0)
    votes = {m: 0 for m in models}
    for v in verdicts:
        for m in set(v.models):
            votes[m] += 1
    result = [
        Strength(m, to_elo(float(theta[i])), to_elo(float(lower[i])), to_elo(float(upper[i])), votes[m])
        for m, i in index.items()
    ]
    return sorted(result, key=lambda s: -s.rating)


def shrink(user_rating: float, org_rating: float, user_votes: int, prior_votes: float) -> float:
    """A user's rating pulled toward the organization's: weight ``n / (n + prior_votes)`` on the user's."""
    w = user_votes / (user_votes + prior_votes) if user_votes + prior_votes > 0 else 0.0
    return w * user_rating + (1.0 - w) * org_rating
