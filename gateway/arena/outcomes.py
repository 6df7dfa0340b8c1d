"""A verdict on a battle, as pairwise results between its models.

A battle has 2 to 4 models. A verdict names a winner (that model beats each of the others)
or none: ``tie`` and ``both_bad`` make every pair a draw, which the ratings count as half a
win each way (as LMArena counts "both bad").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

OUTCOMES = ("win", "tie", "both_bad")


@dataclass(frozen=True, slots=True)
class Verdict:
    """One verdict: the battle's model ids (in slot order) and the winner (None for a draw)."""

    models: tuple[str, ...]
    winner: str | None
    outcome: str  # win | tie | both_bad


def pairwise(verdict: Verdict) -> list[tuple[str, str, float]]:
    """``(a, b, score of a)`` for each pair the verdict decides: 1 a won, 0.5 draw."""
    if verdict.winner is not None:
        return [(verdict.winner, m, 1.0) for m in verdict.models if m != verdict.winner]
    ms = verdict.models
    return [(ms[i], ms[j], 0.5) for i in range(len(ms)) for j in range(i + 1, len(ms))]


def resolve_winner(choice: str, models: Sequence[str]) -> tuple[str | None, str, int | None]:
    """A vote's ``winner`` (slot number, model id, ``tie`` or ``both_bad``) as ``(model, outcome, slot)``.

    Raises ``ValueError`` with a message for the caller when it names nothing in the battle.
    """
    if choice in ("tie", "both_bad"):
        return None, choice, None
    if choice.isdigit():
        slot = int(choice)
        if slot >= len(models):
            raise ValueError(f"slot {slot} does not exist: this battle has slots 0 to {len(models) - 1}")
        return models[slot], "win", slot
    if choice in models:
        return choice, "win", list(models).index(choice)
    raise ValueError(f"winner must be a slot (0 to {len(models) - 1}), one of the battle's models, 'tie' or 'both_bad'")
