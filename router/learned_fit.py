"""Fitting the learned scorer: L2-regularised logistic regression, full-batch Adam in numpy.

Training is offline (``gateway router train``), so numpy is allowed here; it is imported
by this module only, never by :mod:`router.learned`, which scores in plain Python.

Target: ``need`` in 0..1 (see :class:`router.records.Labeled`), used as a soft label of
the logistic loss, so a record where the strong model did better counts as "needs the
strong model" and every other record as "the weak one will do". The design matrix is kept
as CSR arrays (hashed n-grams, unit L2 norm per row) plus a dense block of structural
signals; a gradient step is two vectorised passes over the non-zeros.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from router.config import DEFAULT_CONFIG
from router.features import extract_signals
from router.learned import FORMAT, FORMAT_VERSION, KIND, FeatureConfig, ModelArtifact, hashed_features, quantiles_of
from router.records import Labeled
from router.types import Conversation, Message

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Design:
    """Features of a set of prompts: CSR hashed part plus dense signals."""

    indptr: I64
    indices: I64
    data: F64
    dense: F64  # rows x len(signals)
    n_buckets: int

    def rows(self, idx: Sequence[int]) -> Design:
        """The sub-design of the given rows (in that order)."""
        starts, ends = self.indptr[:-1][list(idx)], self.indptr[1:][list(idx)]
        lengths = ends - starts
        take: I64 = (
            np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
            if len(idx)
            else np.zeros(0, dtype=np.int64)
        )
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return Design(indptr, self.indices[take], self.data[take], self.dense[list(idx)], self.n_buckets)


def design(
    prompts: Sequence[str], features: FeatureConfig, progress: Callable[[int, int], None] | None = None
) -> Design:
    """Featurise prompts exactly as :class:`router.learned.LearnedScorer` does at run time."""
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    dense = np.zeros((len(prompts), len(features.signals)))
    for r, text in enumerate(prompts):
        buckets = hashed_features(text, features)
        scale = 1.0 / math.sqrt(len(buckets)) if buckets else 0.0
        indices.extend(buckets)
        data.extend([scale] * len(buckets))
        indptr.append(len(indices))
        signals, _ = extract_signals(
            Conversation((Message("user", text),)), DEFAULT_CONFIG.max_query_chars, DEFAULT_CONFIG.max_context_turns
        )
        dense[r] = [signals.get(s, 0.0) for s in features.signals]
        if progress is not None and (r % 500 == 0 or r + 1 == len(prompts)):
            progress(r + 1, len(prompts))
    return Design(
        np.asarray(indptr, dtype=np.int64),
        np.asarray(indices, dtype=np.int64),
        np.asarray(data, dtype=np.float64),
        dense,
        features.n_buckets,
    )


def _logits(x: Design, w: F64, v: F64, b: float) -> F64:
    contrib = x.data * w[x.indices]
    sums = np.zeros(len(x.indptr) - 1)
    nonempty = x.indptr[1:] > x.indptr[:-1]
    if contrib.size:
        sums[nonempty] = np.add.reduceat(contrib, x.indptr[:-1][nonempty])
    return np.asarray(sums + x.dense @ v + b, dtype=np.float64)


@dataclass(frozen=True)
class FitParams:
    """Regularisation and optimiser settings (recorded in the artifact)."""

    l2: float = 1e-5
    iterations: int = 150
    learning_rate: float = 0.1


DEFAULT_PARAMS = FitParams()


def fit_weights(x: Design, target: Sequence[float], params: FitParams = DEFAULT_PARAMS) -> tuple[F64, F64, float]:
    """Minimise mean logistic loss + ``l2``·||w||² by full-batch Adam.

    Returns:
        ``(hashed weights, signal weights, bias)``.
    """
    y = np.asarray(target, dtype=np.float64)
    n = max(1, len(y))
    row_of = np.repeat(np.arange(len(y)), np.diff(x.indptr))
    mean = float(np.clip(y.mean() if len(y) else 0.5, 1e-3, 1 - 1e-3))
    params_all = np.zeros(x.n_buckets + x.dense.shape[1] + 1)
    params_all[-1] = math.log(mean / (1 - mean))
    m = np.zeros_like(params_all)
    s = np.zeros_like(params_all)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    nb = x.n_buckets
    for t in range(1, params.iterations + 1):
        w, v, b = params_all[:nb], params_all[nb:-1], float(params_all[-1])
        p = 1.0 / (1.0 + np.exp(-np.clip(_logits(x, w, v, b), -30, 30)))
        g_row = (p - y) / n
        grad = np.empty_like(params_all)
        grad[:nb] = np.bincount(x.indices, weights=x.data * g_row[row_of], minlength=nb) + 2 * params.l2 * w
        grad[nb:-1] = x.dense.T @ g_row + 2 * params.l2 * v
        grad[-1] = g_row.sum()
        m = beta1 * m + (1 - beta1) * grad
        s = beta2 * s + (1 - beta2) * grad * grad
        step = params.learning_rate * math.sqrt(1 - beta2**t) / (1 - beta1**t)
        params_all -= step * m / (np.sqrt(s) + eps)
    return params_all[:nb].copy(), params_all[nb:-1].copy(), float(params_all[-1])


def predict(x: Design, w: F64, v: F64, b: float) -> list[float]:
    """Logits of each row."""
    return [float(z) for z in _logits(x, w, v, b)]


def build_artifact(
    x: Design,
    items: Sequence[Labeled],
    features: FeatureConfig,
    params: FitParams = DEFAULT_PARAMS,
    training: dict[str, Any] | None = None,
    *,
    min_weight: float = 1e-4,
) -> ModelArtifact:
    """Fit on all of ``items`` (rows of ``x``) and package the result.

    Weights smaller than ``min_weight`` in magnitude are dropped from the artifact: they move a
    logit by less than 1e-4 and keeping them only makes the file and the dict larger.
    """
    w, v, b = fit_weights(x, [it.need for it in items], params)
    logits = predict(x, w, v, b)
    keep = np.nonzero(np.abs(w) >= min_weight)[0]
    info = {
        "n": len(items),
        "positives": sum(1 for it in items if it.need > 0),
        "sources": _counts(it.source for it in items),
        "kinds": _counts(it.kind for it in items),
        "params": {"l2": params.l2, "iterations": params.iterations, "learning_rate": params.learning_rate},
        **(training or {}),
    }
    return ModelArtifact(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        kind=KIND,
        features=features,
        bias=b,
        hashed=[(int(i), round(float(w[i]), 6)) for i in keep],
        signal_weights={name: round(float(val), 6) for name, val in zip(features.signals, v, strict=True)},
        quantiles=[round(q, 6) for q in quantiles_of(logits)],
        training=info,
    )


def _counts(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return dict(sorted(out.items()))
