"""APGR/CPT/AUC against hand-computed values and brute force."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from router.evaluation import area, cpt, evaluate_routers, pgr_curve, ranking, roc_auc


def test_pgr_curve_by_hand() -> None:
    # gains: +1, 0, +1, -1 -> total gap 1; routing in index order.
    weak = [False, True, False, True]
    strong = [True, True, True, False]
    curve = pgr_curve([0, 1, 2, 3], weak, strong)
    assert curve == [(0.0, 0.0), (0.25, 1.0), (0.5, 1.0), (0.75, 2.0), (1.0, 1.0)]
    # trapezoids: 0.125 + 0.25 + 0.375 + 0.375
    assert area(curve) == pytest.approx(1.125)
    assert cpt(curve, 0.5) == 0.25
    assert cpt(curve, 1.5) == 0.75


def test_no_gap_is_undefined() -> None:
    assert pgr_curve([0, 1], [True, False], [True, False]) == []
    assert math.isnan(area([]))


def test_auc_matches_brute_force_with_ties() -> None:
    rng = random.Random(3)
    scores = [float(rng.randint(0, 5)) for _ in range(60)]
    labels = [rng.random() < 0.4 for _ in range(60)]
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    brute = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    assert roc_auc(ranking(scores), scores, labels) == pytest.approx(brute / (len(pos) * len(neg)))


def test_ties_are_broken_by_seed_not_input_order() -> None:
    order_a = ranking([1.0] * 50, seed=1)
    order_b = ranking([1.0] * 50, seed=2)
    assert sorted(order_a) == list(range(50))
    assert order_a != order_b
    assert order_a == ranking([1.0] * 50, seed=1)


def _synthetic(n: int, seed: int) -> tuple[list[float], list[bool], list[bool]]:
    rng = random.Random(seed)
    hard = [rng.random() for _ in range(n)]
    weak = [rng.random() > h for h in hard]
    strong = [rng.random() > h / 3 for h in hard]
    return hard, weak, strong


def test_informative_router_beats_random_with_intervals() -> None:
    hard, weak, strong = _synthetic(2000, 7)
    rng = random.Random(0)
    results = evaluate_routers(
        {"oracle": hard, "random": [rng.random() for _ in hard]}, weak, strong, reference="random", n_boot=50
    )
    oracle, rand = results
    assert oracle.apgr.low > rand.apgr.high
    assert 0.4 < rand.apgr.value < 0.6
    assert oracle.apgr.low <= oracle.apgr.value <= oracle.apgr.high
    assert oracle.cpt50.value < rand.cpt50.value
    assert oracle.auc.value > 0.6
    assert oracle.apgr_vs_reference is not None
    assert oracle.apgr_vs_reference.low > 0
    assert rand.apgr_vs_reference is None


def test_bootstrap_is_reproducible() -> None:
    hard, weak, strong = _synthetic(300, 1)
    a = evaluate_routers({"x": hard}, weak, strong, n_boot=20, seed=5)
    b = evaluate_routers({"x": hard}, weak, strong, n_boot=20, seed=5)
    assert a == b
