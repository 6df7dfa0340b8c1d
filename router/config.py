"""Router configuration: tier cut points and signal weights, versioned by the gateway's store.

The gateway keeps configurations in PostgreSQL and hands the active one to the scorer;
this module only defines the value and its rules, so the same object can be built in
a notebook, decoded from the HTTP API, or loaded from a file.
"""

from __future__ import annotations

import math
import re
from typing import Literal

import msgspec

from router.features import SIGNALS

# Logit-scale weights (see router/__init__.py for how the score is built). Hand-set from
# what makes a request hard for a small model, then checked against the development file
# (held-out half) and the hand-written chat cases.
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

DEFAULT_WEIGHTS: dict[str, float] = {
    "length": 2.6,
    "reasoning": 1.0,
    "code": 0.9,
    "math": 0.6,
    "multi_step": 0.5,
    "constraints": 0.8,
    "design": 1.0,
    "technical": 0.4,
    "simple_task": -2.0,
    "lexical": 3.5,
    "context": 0.8,
    "tools": 1.0,
    "attachments": 0.6,
}


class RouterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One version of the router's tunables.

    Attributes:
        version: Set by the store; 0 is the built-in default.
        simple_max: A score at or below this is ``simple``.
        medium_max: Above ``simple_max`` and at or below this is ``medium``; above is ``complex``.
        weights: Per-signal weights (logit units); signals left out keep their default weight.
        bias: Logit offset, moves every score up or down together.
        confidence_band: Score distance from the nearest cut point at which confidence reaches 1.0.
        max_query_chars: How much of the last user turn is scanned (bounds the work).
        max_context_turns: How many turns back the scorer looks.
        mode: ``score`` (the scorer picks the tier) or ``cascade`` (draft cheap, check, escalate);
            a request may override it with ``X-Gateway-Route-Mode``.
        model_id: A trained model in ``gateway_router_models`` that scores instead of the
            heuristic (its 0-100 score is a percentile, so the cut points keep their meaning).
    """

    version: int = 0
    simple_max: int
    medium_max: int
    weights: dict[str, float]
    bias: float = -3.2
    confidence_band: float = 15.0
    max_query_chars: int = 4000
    max_context_turns: int = 64
    mode: Literal["score", "cascade"] = "score"
    model_id: str | None = None

    def problems(self) -> list[str]:
        """Every rule this configuration breaks (empty when valid)."""
        out = []
        if not 0 <= self.simple_max < self.medium_max <= 100:
            out.append(f"need 0 <= simple_max < medium_max <= 100, got {self.simple_max}, {self.medium_max}")
        unknown = sorted(set(self.weights) - set(SIGNALS))
        if unknown:
            out.append(f"unknown signals {unknown}; known: {list(SIGNALS)}")
        bad = sorted(k for k, v in self.weights.items() if not math.isfinite(v) or abs(v) > 50)
        if bad:
            out.append(f"weights must be finite and within +-50: {bad}")
        if not math.isfinite(self.bias) or abs(self.bias) > 50:
            out.append("bias must be finite and within +-50")
        if not self.confidence_band > 0:
            out.append("confidence_band must be > 0")
        if not 256 <= self.max_query_chars <= 1_000_000:
            out.append("max_query_chars must be within 256..1000000")
        if not 1 <= self.max_context_turns <= 10_000:
            out.append("max_context_turns must be within 1..10000")
        if self.model_id is not None and not _UUID_RE.match(self.model_id):
            out.append("model_id must be a router model id (a UUID from gateway router train --save)")
        if self.version < 0:
            out.append("version must be >= 0")
        return out

    def validate(self) -> RouterConfig:
        """Raise ``ValueError`` listing every problem; return ``self`` when valid (chainable)."""
        found = self.problems()
        if found:
            raise ValueError("invalid router config: " + "; ".join(found))
        return self

    def effective_weights(self) -> dict[str, float]:
        """Weights for every signal: the configured ones over the defaults."""
        return {**DEFAULT_WEIGHTS, **self.weights}


DEFAULT_CONFIG = RouterConfig(simple_max=17, medium_max=55, weights=dict(DEFAULT_WEIGHTS))


def decode_config(data: bytes | str) -> RouterConfig:
    """Decode JSON into a validated configuration (unknown fields and signals refused).

    Raises:
        msgspec.ValidationError: Malformed JSON or wrong field types.
        ValueError: Well-formed but breaking a rule (see :meth:`RouterConfig.problems`).
    """
    return msgspec.json.decode(data, type=RouterConfig).validate()
