"""RouteLLM-style router evaluation: PGR curve, APGR, CPT and ROC-AUC, with bootstrap CIs.

A router ranks prompts by score; the top share goes to the strong model. At each share
``x`` the quality gain recovered is ``PGR(x) = (Q(x) - Q_weak) / (Q_strong - Q_weak)``.
The curve is computed exactly at every prompt (not on a coarse threshold grid): sending
one more prompt to the strong model changes the gain by ``strong_i - weak_i``.

Equal scores are ordered by a seeded random key, because a heuristic with many equal
scores would otherwise be judged by input order. Bootstrap replicates reuse that order
and only re-weight prompts (multiplicity counts), so a replicate costs O(n), and every
router is scored on the same replicates so differences between routers are paired.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence

import msgspec

Progress = Callable[[int, int], None]


class Interval(msgspec.Struct, frozen=True):
    """A point estimate with a percentile bootstrap interval (NaN bounds when not bootstrapped)."""

    value: float
    low: float
    high: float


class RouterEval(msgspec.Struct, frozen=True):
    """One router's figures on one labeled set.

    Attributes:
        apgr: Area under the PGR curve over 0-100 % strong calls.
        cpt50: Share of strong calls needed to recover 50 % of the gain (1.0 if never).
        cpt80: Same for 80 %.
        auc: ROC-AUC of the score against "strong right and weak wrong".
        apgr_vs_reference: APGR minus the reference router's, paired over the same replicates.
    """

    name: str
    n: int
    apgr: Interval
    cpt50: Interval
    cpt80: Interval
    auc: Interval
    apgr_vs_reference: Interval | None = None


def ranking(scores: Sequence[float], seed: int = 0) -> list[int]:
    """Indices from highest to lowest score, ties in a seeded random order."""
    rng = random.Random(seed)
    keys = [rng.random() for _ in scores]
    return sorted(range(len(scores)), key=lambda i: (-scores[i], keys[i]))


def pgr_curve(
    order: Sequence[int], weak: Sequence[bool], strong: Sequence[bool], weights: Sequence[int] | None = None
) -> list[tuple[float, float]]:
    """Points ``(share of strong calls, PGR)`` from 0 to 1, one per routed prompt.

    Args:
        order: Prompt indices, the first to be sent to the strong model first.
        weak: Whether the weak model answered each prompt correctly.
        strong: Whether the strong model did.
        weights: Optional multiplicity per prompt (bootstrap); ``None`` means all 1.

    Returns:
        The curve, or an empty list when the two models score the same (PGR undefined).
    """
    w = weights if weights is not None else [1] * len(weak)
    total = sum(w)
    gap = sum(w[i] * (int(strong[i]) - int(weak[i])) for i in order)
    if total == 0 or gap == 0:
        return []
    points = [(0.0, 0.0)]
    seen = 0
    gained = 0
    for i in order:
        if w[i] == 0:
            continue
        seen += w[i]
        gained += w[i] * (int(strong[i]) - int(weak[i]))
        points.append((seen / total, gained / gap))
    return points


def area(curve: Sequence[tuple[float, float]]) -> float:
    """Trapezoid-rule area under a curve (APGR for a PGR curve)."""
    if not curve:
        return math.nan
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(curve))


def cpt(curve: Sequence[tuple[float, float]], target: float) -> float:
    """Smallest share of strong calls at which PGR reaches ``target`` (e.g. 0.5 for CPT(50%))."""
    if not curve:
        return math.nan
    for x, y in curve:
        if y >= target:
            return x
    return 1.0


def roc_auc(
    order: Sequence[int], scores: Sequence[float], labels: Sequence[bool], weights: Sequence[int] | None = None
) -> float:
    """ROC-AUC of ``scores`` for ``labels``; equal scores count as half a win.

    ``order`` must rank the scores from highest to lowest (see :func:`ranking`).
    """
    w = weights if weights is not None else [1] * len(labels)
    pos_total = sum(w[i] for i in order if labels[i])
    neg_total = sum(w[i] for i in order if not labels[i])
    if pos_total == 0 or neg_total == 0:
        return math.nan
    wins = 0.0
    neg_above = 0
    k = 0
    while k < len(order):
        level = scores[order[k]]
        pos = neg = 0
        while k < len(order) and scores[order[k]] == level:
            i = order[k]
            if labels[i]:
                pos += w[i]
            else:
                neg += w[i]
            k += 1
        # Positives in this group beat every negative scored lower, tie with the group's negatives.
        wins += pos * (neg_total - neg_above - neg) + 0.5 * pos * neg
        neg_above += neg
    return wins / (pos_total * neg_total)


def _figures(
    order: Sequence[int],
    scores: Sequence[float],
    weak: Sequence[bool],
    strong: Sequence[bool],
    labels: Sequence[bool],
    weights: Sequence[int] | None,
) -> tuple[float, float, float, float]:
    curve = pgr_curve(order, weak, strong, weights)
    return area(curve), cpt(curve, 0.5), cpt(curve, 0.8), roc_auc(order, scores, labels, weights)


def _percentile(values: list[float], q: float) -> float:
    finite = sorted(v for v in values if not math.isnan(v))
    if not finite:
        return math.nan
    pos = q * (len(finite) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(finite) - 1)
    return finite[lo] + (finite[hi] - finite[lo]) * (pos - lo)


def _interval(point: float, samples: list[float], level: float) -> Interval:
    if not samples:
        return Interval(point, math.nan, math.nan)
    tail = (1 - level) / 2
    return Interval(point, _percentile(samples, tail), _percentile(samples, 1 - tail))


def evaluate_routers(
    routers: Mapping[str, Sequence[float]],
    weak: Sequence[bool],
    strong: Sequence[bool],
    *,
    reference: str | None = None,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[RouterEval]:
    """Evaluate several routers on one labeled set, on shared bootstrap replicates.

    Args:
        routers: Router name -> one score per prompt (higher = more deserving of the strong model).
        weak: Weak-model correctness per prompt.
        strong: Strong-model correctness per prompt.
        reference: Router whose APGR the others are compared with (paired differences).
        n_boot: Bootstrap replicates (0 = point estimates only).
        level: Confidence level of the intervals.
        seed: Seeds tie-breaking and resampling, so a run is reproducible.
        progress: Called with ``(done, total)`` after each replicate.

    Returns:
        One :class:`RouterEval` per router, in the mapping's order.
    """
    n = len(weak)
    labels = [s and not w for w, s in zip(weak, strong, strict=True)]
    orders = {name: ranking(sc, seed) for name, sc in routers.items()}
    points = {name: _figures(orders[name], sc, weak, strong, labels, None) for name, sc in routers.items()}
    samples: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in routers}
    rng = random.Random(seed + 1)
    for b in range(n_boot):
        counts = [0] * n
        for i in rng.choices(range(n), k=n):
            counts[i] += 1
        for name, sc in routers.items():
            samples[name].append(_figures(orders[name], sc, weak, strong, labels, counts))
        if progress is not None:
            progress(b + 1, n_boot)
    results = []
    for name in routers:
        p, s = points[name], samples[name]
        diff = None
        if reference is not None and reference in routers and name != reference:
            ref_p, ref_s = points[reference], samples[reference]
            diff = _interval(p[0] - ref_p[0], [a[0] - r[0] for a, r in zip(s, ref_s, strict=True)], level)
        results.append(
            RouterEval(
                name=name,
                n=n,
                apgr=_interval(p[0], [v[0] for v in s], level),
                cpt50=_interval(p[1], [v[1] for v in s], level),
                cpt80=_interval(p[2], [v[2] for v in s], level),
                auc=_interval(p[3], [v[3] for v in s], level),
                apgr_vs_reference=diff,
            )
        )
    return results
