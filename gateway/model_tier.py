"""The catalog's one vocabulary: a model's *tier* (what an organization's policy allows).

``basic``, ``standard`` and ``premium`` are model tiers; the router's simple/medium/complex
is a *complexity* (``router.complexity``). AUTO maps a complexity to a model, whose tier the
policy then checks.
"""

from __future__ import annotations

from typing import Literal

ModelTier = Literal["basic", "standard", "premium"]
MODEL_TIERS: tuple[ModelTier, ...] = ("basic", "standard", "premium")
