"""The complexity scorer: signals -> weighted logit -> 0-100 score -> tier and confidence."""

from __future__ import annotations

import math

from router.complexity import Complexity
from router.config import DEFAULT_CONFIG, RouterConfig
from router.features import extract_signals
from router.types import Conversation, Decision

_LABELS = {
    "length": "long query",
    "reasoning": "reasoning/proof words",
    "code": "code",
    "math": "math/quantities",
    "multi_step": "multiple steps/parts",
    "constraints": "constraints",
    "design": "system design",
    "technical": "technical vocabulary",
    "simple_task": "simple task (greeting/rewrite/lookup)",
    "lexical": "wording typical of hard prompts",
    "context": "long conversation",
    "tools": "tools offered",
    "attachments": "attachments",
}


def complexity_for(score: int, config: RouterConfig) -> Complexity:
    """The tier a 0-100 score falls in under ``config``'s cut points."""
    if score <= config.simple_max:
        return "simple"
    if score <= config.medium_max:
        return "medium"
    return "complex"


def confidence_for(value: float, config: RouterConfig) -> float:
    """0.5 exactly on a tier boundary, rising linearly to 1.0 at ``confidence_band`` away."""
    distance = min(abs(value - (config.simple_max + 0.5)), abs(value - (config.medium_max + 0.5)))
    return round(0.5 + 0.5 * min(1.0, distance / config.confidence_band), 3)


def _reasoning(tier: Complexity, score: int, contributions: dict[str, float], signals: dict[str, float]) -> str:
    ups = sorted((c, k) for k, c in contributions.items() if c >= 0.15)[::-1][:3]
    downs = sorted((c, k) for k, c in contributions.items() if c <= -0.15)[:1]
    parts = [f"{tier} (score {score})"]
    if ups:
        parts.append("driven by " + ", ".join(f"{_LABELS[k]} {signals[k]:.2f}" for _, k in ups))
    else:
        parts.append("no strong complexity signal")
    if downs:
        parts.append("lowered by " + ", ".join(f"{_LABELS[k]} {signals[k]:.2f}" for _, k in downs))
    return "; ".join(parts)


def score_conversation(conv: Conversation, config: RouterConfig = DEFAULT_CONFIG) -> Decision:
    """Score a conversation's complexity and pick its tier.

    Args:
        conv: The request's turns, tool count and attachment count.
        config: Cut points and weights (the gateway passes the active stored version).

    Returns:
        The decision, with the signals and a one-line reasoning for the routing log.
    """
    signals, query_length = extract_signals(conv, config.max_query_chars, config.max_context_turns)
    return decide(signals, query_length, config)


def decide(signals: dict[str, float], query_length: int, config: RouterConfig = DEFAULT_CONFIG) -> Decision:
    """Turn extracted signals into a decision (split out so evaluation can supply its own signals)."""
    weights = config.effective_weights()
    contributions = {k: weights[k] * v for k, v in signals.items()}
    z = config.bias + sum(contributions.values())
    value = 100.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
    score = min(100, max(0, round(value)))
    complexity = complexity_for(score, config)
    return Decision(
        score=score,
        confidence=confidence_for(value, config),
        complexity=complexity,
        reasoning=_reasoning(complexity, score, contributions, signals),
        signals={k: round(v, 4) for k, v in signals.items()},
        query_length=query_length,
        config_version=config.version,
        value=value,
    )
