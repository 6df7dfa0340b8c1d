"""How the current router configuration does on the organization's labeled traffic.

Part of ``GET /v1/router/summary``: the labels of :mod:`gateway.routing.labels`, scored by
the scorer AUTO uses now (the heuristic, or the configuration's trained model), give the
quality/strong-share curve and APGR/CPT with bootstrap intervals next to prompt length and
random; the learned recipe refitted held out (k-fold, and leave-one-source-out across
label kinds: feedback, preference, cascade) says what training on these labels would buy.
The work is CPU-bound (fits in numpy), so the caller runs it in a worker thread, on at
most :data:`MAX_LABELS` of the newest labels.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import msgspec

from router.config import RouterConfig
from router.evaluation import evaluate_routers, pgr_curve, ranking
from router.learned import LearnedScorer
from router.records import Labeled
from router.scorer import score_conversation
from router.types import Conversation, Message

MAX_LABELS = 5000
MIN_LABELS = 20
BOOTSTRAP = 100


class CurvePoint(msgspec.Struct, frozen=True):
    """Sending the top ``strong_share`` of labeled prompts (by score) to the strong side."""

    strong_share: float
    quality: float
    pgr: float | None


class LabeledTraffic(msgspec.Struct, kw_only=True):
    """Figures on the organization's labeled traffic (``figures`` absent when too few labels)."""

    labels: int
    kinds: dict[str, int]
    scorer: str
    note: str
    curve: list[CurvePoint] = msgspec.field(default_factory=list)
    current: dict[str, Any] = msgspec.field(default_factory=dict)
    heldout: dict[str, Any] = msgspec.field(default_factory=dict)


def _fig(e: Any) -> dict[str, Any]:
    return {
        "apgr": [e.apgr.value, e.apgr.low, e.apgr.high],
        "cpt50": [e.cpt50.value, e.cpt50.low, e.cpt50.high],
        "cpt80": [e.cpt80.value, e.cpt80.low, e.cpt80.high],
    }


def curve(scores: Sequence[float], items: Sequence[Labeled], steps: int = 10) -> list[CurvePoint]:
    """Quality (mean correctness of the chosen side) at 0, 10, ... 100 % strong calls."""
    weak = [it.weak >= 0.5 for it in items]
    strong = [it.strong >= 0.5 for it in items]
    order = ranking(scores)
    n = len(items)
    pgr = dict(pgr_curve(order, weak, strong))
    out = []
    for k in range(steps + 1):
        cut = round(n * k / steps)
        chosen = set(order[:cut])
        quality = sum(strong[i] if i in chosen else weak[i] for i in range(n)) / n
        share = cut / n
        out.append(CurvePoint(round(share, 3), round(quality, 4), None if not pgr else round(pgr.get(share, 0.0), 4)))
    return out


def evaluate_labels(
    items: Sequence[Labeled], config: RouterConfig, learned: LearnedScorer | None, seed: int = 0
) -> LabeledTraffic:
    """The figures (pure CPU; see the module docstring)."""
    items = list(items)[-MAX_LABELS:]
    kinds: dict[str, int] = {}
    for it in items:
        kinds[it.source] = kinds.get(it.source, 0) + 1
    scorer = "heuristic" if learned is None else f"learned model {learned.model_id}"
    discordant = sum(1 for it in items if (it.weak >= 0.5) != (it.strong >= 0.5))
    if len(items) < MIN_LABELS or discordant == 0:
        return LabeledTraffic(
            labels=len(items),
            kinds=kinds,
            scorer=scorer,
            note=f"need at least {MIN_LABELS} labels with some where one side did better (POST /v1/feedback)",
        )
    convs = [Conversation((Message("user", it.prompt),)) for it in items]
    current = [
        (learned.decide(c, config) if learned is not None else score_conversation(c, config)).value for c in convs
    ]
    rng = random.Random(seed)
    routers = {
        "current": current,
        "length": [float(len(it.prompt)) for it in items],
        "random": [rng.random() for _ in items],
    }
    weak = [it.weak >= 0.5 for it in items]
    strong = [it.strong >= 0.5 for it in items]
    evals = evaluate_routers(routers, weak, strong, reference="length", n_boot=BOOTSTRAP, seed=seed)
    from router.heldout import heldout_report, summary_figures
    from router.learned import FeatureConfig
    from router.learned_fit import design

    features = learned.artifact.features if learned is not None else FeatureConfig(n_buckets=1 << 16)
    x = design([it.prompt for it in items], features)
    report = heldout_report(x, items, k=5, n_boot=BOOTSTRAP, seed=seed)
    note = (
        "current: the scorer AUTO uses now"
        + (" (in-sample if its model was trained on these labels)" if learned is not None else "")
        + "; heldout: the learned recipe refitted without each fold / label kind"
    )
    return LabeledTraffic(
        labels=len(items),
        kinds=kinds,
        scorer=scorer,
        note=note,
        curve=curve(current, items),
        current={e.name: _fig(e) for e in evals},
        heldout=summary_figures(report),
    )
