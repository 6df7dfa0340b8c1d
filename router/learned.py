"""The learned prompt scorer: a logistic model over hashed n-grams and the structural signals.

What it predicts: the probability that a prompt *needs* the strong model (the strong model
answers it well and the weak one does not), fitted on labeled outcomes by
:mod:`router.learned_fit`. What the gateway uses: that probability's percentile among the
training prompts, as the 0-100 ``score`` the tier cut points apply to, so a trained model
drops into the same versioned configuration (cut points, confidence) as the heuristic.

Run-time cost is one pass over a bounded window of the last user turn: ``crc32`` of each
word, word pair and character n-gram, a dict lookup per hashed feature and the heuristic's
signals (see :mod:`router.features`). No numpy, no model files beyond the JSON artifact.

Hashing uses ``zlib.crc32`` rather than ``hash()`` because Python salts string hashes per
process; an artifact must score the same in every replica and in the trainer.
"""

from __future__ import annotations

import bisect
import math
import zlib
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from router.config import RouterConfig
from router.features import SIGNALS, extract_signals, last_user_index, window
from router.lexicon import WORD_RE
from router.scorer import complexity_for, confidence_for
from router.types import Conversation, Decision

FORMAT = "gateway-router-model"
FORMAT_VERSION = 1
KIND = "logistic-hashed-ngrams"


class FeatureConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How a prompt becomes features (stored in the artifact, so trainer and scorer agree).

    Attributes:
        n_buckets: Hash space size (a power of two).
        word_ngrams: Word n-gram orders (1 = words, 2 = word pairs).
        char_ngrams: Character n-gram orders, over the lowercased text with runs of space squeezed.
        max_chars: Window of the last user turn read for word n-grams.
        char_max_chars: Window read for character n-grams (the costliest part, so shorter).
        signals: Structural signals of :mod:`router.features` used as dense features.
    """

    n_buckets: int = 1 << 18
    word_ngrams: tuple[int, ...] = (1, 2)
    char_ngrams: tuple[int, ...] = (4,)
    max_chars: int = 2000
    char_max_chars: int = 600
    signals: tuple[str, ...] = SIGNALS

    def problems(self) -> list[str]:
        """Every rule this feature configuration breaks (empty when valid)."""
        out = []
        if self.n_buckets < 16 or self.n_buckets & (self.n_buckets - 1):
            out.append("n_buckets must be a power of two >= 16")
        if any(n not in (1, 2, 3) for n in self.word_ngrams):
            out.append("word_ngrams must be within 1..3")
        if any(not 2 <= n <= 8 for n in self.char_ngrams):
            out.append("char_ngrams must be within 2..8")
        if not 64 <= self.max_chars <= 100_000 or not 0 <= self.char_max_chars <= 100_000:
            out.append("max_chars must be within 64..100000 and char_max_chars within 0..100000")
        unknown = sorted(set(self.signals) - set(SIGNALS))
        if unknown:
            out.append(f"unknown signals {unknown}")
        return out


class ModelArtifact(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A trained scorer as stored in files and in ``gateway_router_models``.

    Attributes:
        format: Always ``gateway-router-model``.
        format_version: Bumped when the meaning of a field changes; older readers refuse newer files.
        kind: The model family (only ``logistic-hashed-ngrams`` so far).
        features: How prompts become features.
        bias: Logit intercept.
        hashed: Sparse weights of the hashed features, as ``[bucket, weight]`` pairs.
        signal_weights: Weight of each structural signal.
        quantiles: 101 logits: the 0th..100th percentiles of the training prompts' logits; a
            prompt's score is its percentile among them.
        training: What it was fitted on (files, sources and counts, the model pair, parameters).
        metrics: Held-out figures measured at training time (k-fold and leave-one-source-out).
    """

    format: str
    format_version: int
    kind: str
    features: FeatureConfig
    bias: float
    hashed: list[tuple[int, float]]
    signal_weights: dict[str, float]
    quantiles: list[float]
    training: dict[str, Any] = msgspec.field(default_factory=dict)
    metrics: dict[str, Any] = msgspec.field(default_factory=dict)

    def problems(self) -> list[str]:
        """Every reason this artifact cannot be used (empty when usable)."""
        out = []
        if self.format != FORMAT:
            out.append(f"format must be {FORMAT!r}, got {self.format!r}")
        if self.format_version > FORMAT_VERSION or self.format_version < 1:
            out.append(
                f"format_version {self.format_version} is not readable here (this build reads 1..{FORMAT_VERSION})"
            )
        if self.kind != KIND:
            out.append(f"kind must be {KIND!r}, got {self.kind!r}")
        out.extend(self.features.problems())
        if len(self.quantiles) != 101 or any(b < a for a, b in zip(self.quantiles, self.quantiles[1:], strict=False)):
            out.append("quantiles must be 101 non-decreasing logits")
        if any(not 0 <= b < self.features.n_buckets for b, _ in self.hashed):
            out.append("hashed bucket out of range")
        values = [self.bias, *self.signal_weights.values(), *(w for _, w in self.hashed), *self.quantiles]
        if not all(math.isfinite(v) for v in values):
            out.append("weights must be finite")
        unknown = sorted(set(self.signal_weights) - set(self.features.signals))
        if unknown:
            out.append(f"signal_weights name signals not in features.signals: {unknown}")
        return out


# Seeds of the hash per feature kind (crc32's start value), so a word and a character
# n-gram with the same bytes land in different buckets.
_WORD_SEED = {1: 0x9E3779B1, 2: 0x85EBCA77, 3: 0xC2B2AE3D}
_CHAR_SEED = 0x27D4EB2F


def hashed_features(text: str, features: FeatureConfig) -> list[int]:
    """Sorted :func:`bucket_set` (the trainer's order, so a fit is deterministic)."""
    return sorted(bucket_set(text, features))


def bucket_set(text: str, features: FeatureConfig) -> set[int]:
    """Distinct hash buckets of the text's word n-grams and character (UTF-8 byte) n-grams.

    Args:
        text: The last user turn (windowed here, so any length is bounded work).
        features: Which n-grams and how much of the text.

    Returns:
        Bucket indices (the same in every process: ``zlib.crc32``, not the salted ``hash``).
    """
    mask = features.n_buckets - 1
    crc = zlib.crc32
    lower = window(text, features.max_chars).lower()
    words = [w.encode("utf-8", "surrogatepass") for w in WORD_RE.findall(lower)]
    out: set[int] = set()
    for order in features.word_ngrams:
        seed = _WORD_SEED[order]
        if order == 1:
            out.update(crc(w, seed) & mask for w in set(words))
        else:
            out.update(crc(b" ".join(words[i : i + order]), seed) & mask for i in range(len(words) - order + 1))
    if features.char_ngrams and features.char_max_chars:
        data = " ".join(lower[: features.char_max_chars].split()).encode("utf-8", "surrogatepass")
        for order in features.char_ngrams:
            seed = _CHAR_SEED + order
            out.update(crc(data[i : i + order], seed) & mask for i in range(len(data) - order + 1))
    return out


def row_scale(n_hashed: int) -> float:
    """Value of each hashed feature in a row: ``1/sqrt(n)``, so the row has unit L2 norm."""
    return 1.0 / math.sqrt(n_hashed) if n_hashed else 0.0


def percentile(logit: float, quantiles: Sequence[float]) -> float:
    """Where ``logit`` falls among the training logits, 0..100 (linear between quantiles)."""
    if logit <= quantiles[0]:
        return 0.0
    if logit >= quantiles[-1]:
        return 100.0
    hi = bisect.bisect_right(quantiles, logit)
    lo = hi - 1
    span = quantiles[hi] - quantiles[lo]
    return lo + ((logit - quantiles[lo]) / span if span > 0 else 0.0)


def quantiles_of(values: Iterable[float]) -> list[float]:
    """The 0th..100th percentiles of ``values`` (101 points, nearest-rank interpolation)."""
    ordered = sorted(values)
    if not ordered:
        return [0.0] * 101
    last = len(ordered) - 1
    out = []
    for q in range(101):
        pos = q / 100 * last
        lo = int(pos)
        hi = min(lo + 1, last)
        out.append(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))
    return out


class LearnedScorer:
    """An artifact ready to score: weights in a dict, built once and shared (read-only)."""

    def __init__(self, artifact: ModelArtifact, model_id: str = "file") -> None:
        problems = artifact.problems()
        if problems:
            raise ValueError("unusable router model: " + "; ".join(problems))
        self.artifact = artifact
        self.model_id = model_id
        # Dense, so scoring is one C-level indexed sum (a dict lookup per feature is ~3x slower).
        self._weights = array("d", bytes(8 * artifact.features.n_buckets))
        for b, w in artifact.hashed:
            self._weights[b] = w
        self._signal_weights = dict(artifact.signal_weights)

    def logit(self, conv: Conversation, config: RouterConfig) -> tuple[float, dict[str, float], int]:
        """``(logit, signals, query_length)`` for a conversation."""
        signals, query_length = extract_signals(conv, config.max_query_chars, config.max_context_turns)
        return self.logit_of(_query_text(conv, config), signals), signals, query_length

    def logit_of(self, text: str, signals: Mapping[str, float]) -> float:
        """The model's logit for a query text and its already extracted signals."""
        buckets = bucket_set(text, self.artifact.features)
        hashed = sum(map(self._weights.__getitem__, buckets)) * row_scale(len(buckets))
        dense = sum(w * signals.get(name, 0.0) for name, w in self._signal_weights.items())
        return self.artifact.bias + hashed + dense

    def decide(self, conv: Conversation, config: RouterConfig) -> Decision:
        """A routing decision: score = percentile of the logit among the training prompts."""
        z, signals, query_length = self.logit(conv, config)
        value = percentile(z, self.artifact.quantiles)
        score = min(100, max(0, round(value)))
        tier = complexity_for(score, config)
        p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
        reasoning = (
            f"{tier} (score {score}); learned model {self.model_id}: "
            f"P(strong model needed) {p:.2f}, above {value:.0f}% of its training prompts"
        )
        return Decision(
            score=score,
            confidence=confidence_for(value, config),
            complexity=tier,
            reasoning=reasoning,
            signals={k: round(v, 4) for k, v in signals.items()},
            query_length=query_length,
            config_version=config.version,
            value=value,
        )


def _query_text(conv: Conversation, config: RouterConfig) -> str:
    if not conv.messages:
        return ""
    return conv.messages[last_user_index(conv, config.max_context_turns)].text


_decoder = msgspec.json.Decoder(ModelArtifact)
_encoder = msgspec.json.Encoder()


def decode_artifact(data: bytes | str) -> ModelArtifact:
    """Decode and check an artifact (JSON).

    Raises:
        msgspec.ValidationError: Malformed JSON or wrong field types.
        ValueError: Well-formed but unusable (see :meth:`ModelArtifact.problems`).
    """
    artifact = _decoder.decode(data)
    problems = artifact.problems()
    if problems:
        raise ValueError("unusable router model: " + "; ".join(problems))
    return artifact


def encode_artifact(artifact: ModelArtifact) -> bytes:
    """The artifact as JSON bytes."""
    return _encoder.encode(artifact)
