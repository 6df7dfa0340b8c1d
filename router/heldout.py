"""Held-out evaluation of the learned scorer: k-fold within the data, and leave-one-source-out.

A figure from prompts a model was fitted on is not evidence, so every learned score
here comes from a model fitted without that prompt: in ``kfold`` each fold is scored by a
model fitted on the other folds; in ``loso`` each source (task family) is scored by a
model fitted on every other source, which is what a new organization's traffic looks
like to a model trained elsewhere. Both sit next to the baselines that need no training
(prompt length, random, the heuristic scorer) on the same bootstrap replicates.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from router.config import DEFAULT_CONFIG
from router.evaluation import RouterEval, evaluate_routers
from router.fitting import folds
from router.learned_fit import DEFAULT_PARAMS, Design, FitParams, fit_weights, predict
from router.records import Labeled
from router.scorer import score_conversation
from router.types import Conversation, Message

Progress = Callable[[int, int], None]


def out_of_fold(
    x: Design,
    items: Sequence[Labeled],
    groups: Sequence[Sequence[int]],
    params: FitParams = DEFAULT_PARAMS,
    progress: Progress | None = None,
) -> list[float]:
    """Learned logits, each prompt scored by a model fitted on every group but its own."""
    out = [0.0] * len(items)
    for done, held in enumerate(groups, start=1):
        held_set = set(held)
        train = [i for i in range(len(items)) if i not in held_set]
        if train and held:
            w, v, b = fit_weights(x.rows(train), [items[i].need for i in train], params)
            for i, z in zip(held, predict(x.rows(held), w, v, b), strict=True):
                out[i] = z
        if progress is not None:
            progress(done, len(groups))
    return out


def source_groups(items: Sequence[Labeled]) -> dict[str, list[int]]:
    """Indices of each source, in first-seen order."""
    out: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        out.setdefault(it.source, []).append(i)
    return out


def baselines(items: Sequence[Labeled], seed: int = 0) -> dict[str, list[float]]:
    """Scores of the routers that need no training: the heuristic, prompt length, random."""
    rng = random.Random(seed)
    return {
        "heuristic": [
            score_conversation(Conversation((Message("user", it.prompt),)), DEFAULT_CONFIG).value for it in items
        ],
        "length": [float(len(it.prompt)) for it in items],
        "random": [rng.random() for _ in items],
    }


def evaluate_groups(
    scores: Mapping[str, Sequence[float]],
    items: Sequence[Labeled],
    *,
    n_boot: int = 200,
    seed: int = 0,
    reference: str = "length",
) -> dict[str, list[RouterEval]]:
    """APGR/CPT/AUC of every router, per source and pooled (``all``), on shared replicates."""
    groups: dict[str, list[int]] = {"all": list(range(len(items)))}
    by_source = source_groups(items)
    if len(by_source) > 1:
        groups.update(by_source)
    out: dict[str, list[RouterEval]] = {}
    for name, idx in groups.items():
        weak = [items[i].weak >= 0.5 for i in idx]
        strong = [items[i].strong >= 0.5 for i in idx]
        routers = {r: [vals[i] for i in idx] for r, vals in scores.items()}
        out[name] = evaluate_routers(routers, weak, strong, reference=reference, n_boot=n_boot, seed=seed)
    return out


def heldout_report(
    x: Design,
    items: Sequence[Labeled],
    *,
    k: int = 5,
    n_boot: int = 200,
    seed: int = 0,
    params: FitParams = DEFAULT_PARAMS,
    progress: Progress | None = None,
    extra: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, Any]:
    """Both held-out schemes side by side.

    Returns:
        ``{"kfold": {group: [RouterEval]}, "loso": {...}}``; ``loso`` is absent with one source.
        Each group lists ``learned`` and the baselines (plus ``extra`` routers, e.g. a stored model).
    """
    base: dict[str, Sequence[float]] = dict(baselines(items, seed))
    if extra:
        base.update(extra)
    kfold = out_of_fold(x, items, folds(len(items), k, seed), params, progress)
    report: dict[str, Any] = {"kfold": evaluate_groups({"learned": kfold, **base}, items, n_boot=n_boot, seed=seed)}
    by_source = source_groups(items)
    if len(by_source) > 1:
        loso = out_of_fold(x, items, list(by_source.values()), params, progress)
        report["loso"] = evaluate_groups({"learned": loso, **base}, items, n_boot=n_boot, seed=seed)
    return report


def summary_figures(report: Mapping[str, Mapping[str, Sequence[RouterEval]]]) -> dict[str, Any]:
    """A compact JSON-able view (APGR, CPT50/80 with intervals) for the artifact's ``metrics``."""
    out: dict[str, Any] = {}
    for scheme, groups in report.items():
        out[scheme] = {
            group: {
                e.name: {
                    "n": e.n,
                    "apgr": [e.apgr.value, e.apgr.low, e.apgr.high],
                    "cpt50": [e.cpt50.value, e.cpt50.low, e.cpt50.high],
                    "cpt80": [e.cpt80.value, e.cpt80.low, e.cpt80.high],
                }
                for e in evals
            }
            for group, evals in groups.items()
        }
    return out
