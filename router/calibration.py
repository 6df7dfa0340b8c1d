"""Cut points for a target tier mix, and what-if replay of logged routing decisions.

Both work on plain values (scores, rows) so they run the same over a labeled file,
over rows read from ``routing_decisions``, or in a notebook.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from router.complexity import COMPLEXITIES, Complexity


class Mix(msgspec.Struct, frozen=True):
    """Target or achieved shares of the three tiers (they sum to 1)."""

    simple: float
    medium: float
    complex: float


class Thresholds(msgspec.Struct, frozen=True):
    """Cut points and the mix they produce on the scores they were fitted to."""

    simple_max: int
    medium_max: int
    achieved: Mix
    n: int


def parse_mix(text: str) -> Mix:
    """``"50,35,15"`` or ``"0.5,0.35,0.15"`` -> a normalised :class:`Mix`.

    Raises:
        ValueError: Not three non-negative numbers with a positive sum.
    """
    parts = [float(p) for p in text.split(",")]
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise ValueError("a mix is three non-negative numbers: simple,medium,complex (e.g. 50,35,15)")
    total = sum(parts)
    return Mix(parts[0] / total, parts[1] / total, parts[2] / total)


def complexity_of(score: int, simple_max: int, medium_max: int) -> Complexity:
    """The tier of a score under the given cut points."""
    if score <= simple_max:
        return "simple"
    return "medium" if score <= medium_max else "complex"


def mix_of(scores: Sequence[int], simple_max: int, medium_max: int) -> Mix:
    """Tier shares the cut points give on ``scores``."""
    n = max(1, len(scores))
    simple = sum(1 for s in scores if s <= simple_max)
    medium = sum(1 for s in scores if simple_max < s <= medium_max)
    return Mix(simple / n, medium / n, (len(scores) - simple - medium) / n)


def thresholds_for_mix(scores: Sequence[int], target: Mix) -> Thresholds:
    """Integer cut points whose mix on ``scores`` is closest to ``target``.

    Searches all pairs ``0 <= simple_max < medium_max <= 100`` (about 5,000) using a
    cumulative histogram, minimising the total absolute share error; ties go to the
    lower cut points (cheaper routing).
    """
    hist = [0] * 101
    for s in scores:
        hist[min(100, max(0, s))] += 1
    n = max(1, len(scores))
    cum = []
    running = 0
    for c in hist:
        running += c
        cum.append(running / n)  # share of scores <= index
    best: tuple[float, int, int] | None = None
    for lo in range(0, 100):
        for hi in range(lo + 1, 101):
            err = (
                abs(cum[lo] - target.simple)
                + abs(cum[hi] - cum[lo] - target.medium)
                + abs(1 - cum[hi] - target.complex)
            )
            if best is None or err < best[0] - 1e-12:
                best = (err, lo, hi)
    assert best is not None
    _, lo, hi = best
    return Thresholds(simple_max=lo, medium_max=hi, achieved=mix_of(scores, lo, hi), n=len(scores))


class LoggedDecision(msgspec.Struct, frozen=True):
    """One ``routing_decisions`` row, reduced to what replay needs."""

    score: int
    tier: str
    request_succeeded: bool | None = None
    response_tokens: int | None = None
    cost_millicents: int | None = None


class ReplaySummary(msgspec.Struct, frozen=True):
    """Outcome of one routing policy over the logged decisions.

    Attributes:
        label: ``actual`` for what happened, else the cut points replayed.
        counts: Requests per tier.
        cost_millicents: Total (actual) or estimated (replayed) cost.
        success_rate: Share of requests that succeeded (estimated for moved requests).
        moved: Requests whose tier differs from the logged one.
    """

    label: str
    n: int
    counts: dict[str, int]
    cost_millicents: float
    success_rate: float | None
    moved: int


class _TierStats(msgspec.Struct):
    cost_per_token: float | None
    cost_per_request: float
    success_rate: float | None


def _tier_stats(rows: Sequence[LoggedDecision]) -> dict[str, _TierStats]:
    stats: dict[str, _TierStats] = {}
    for tier in COMPLEXITIES:
        mine = [r for r in rows if r.tier == tier]
        costed = [r for r in mine if r.cost_millicents is not None]
        tokens = sum(r.response_tokens or 0 for r in costed if r.response_tokens)
        cost_tok = sum(r.cost_millicents or 0 for r in costed if r.response_tokens)
        known = [r.request_succeeded for r in mine if r.request_succeeded is not None]
        stats[tier] = _TierStats(
            cost_per_token=cost_tok / tokens if tokens else None,
            cost_per_request=sum(r.cost_millicents or 0 for r in costed) / len(costed) if costed else 0.0,
            success_rate=sum(known) / len(known) if known else None,
        )
    return stats


def replay(rows: Sequence[LoggedDecision], simple_max: int, medium_max: int) -> list[ReplaySummary]:
    """What happened, side by side with what other cut points would have produced.

    A request that stays in its tier keeps its logged cost and outcome. A request that
    moves is estimated from the destination tier's logged figures: its response tokens
    times that tier's cost per response token (else that tier's mean cost per request),
    and that tier's success rate. The estimate is only as good as the destination tier's
    sample; a tier with no logged traffic contributes zero cost and no outcome.

    Returns:
        ``[actual, replayed]``.
    """
    stats = _tier_stats(rows)
    actual_counts: dict[str, int] = dict.fromkeys(COMPLEXITIES, 0)
    new_counts: dict[str, int] = dict.fromkeys(COMPLEXITIES, 0)
    actual_cost = new_cost = 0.0
    actual_ok = actual_known = 0
    new_ok = 0.0
    new_known = 0
    moved = 0
    for r in rows:
        if r.tier in actual_counts:
            actual_counts[r.tier] += 1
        actual_cost += r.cost_millicents or 0
        if r.request_succeeded is not None:
            actual_known += 1
            actual_ok += int(r.request_succeeded)
        tier = complexity_of(r.score, simple_max, medium_max)
        new_counts[tier] += 1
        if tier == r.tier:
            new_cost += r.cost_millicents or 0
            if r.request_succeeded is not None:
                new_known += 1
                new_ok += int(r.request_succeeded)
            continue
        moved += 1
        dest = stats[tier]
        if dest.cost_per_token is not None and r.response_tokens:
            new_cost += dest.cost_per_token * r.response_tokens
        else:
            new_cost += dest.cost_per_request
        if dest.success_rate is not None:
            new_known += 1
            new_ok += dest.success_rate
    return [
        ReplaySummary(
            label="actual",
            n=len(rows),
            counts=actual_counts,
            cost_millicents=actual_cost,
            success_rate=actual_ok / actual_known if actual_known else None,
            moved=0,
        ),
        ReplaySummary(
            label=f"simple<={simple_max} medium<={medium_max}",
            n=len(rows),
            counts=new_counts,
            cost_millicents=new_cost,
            success_rate=new_ok / new_known if new_known else None,
            moved=moved,
        ),
    ]
