"""Training records: the three formats of the router data README, read into one labeled example.

Every format becomes a :class:`Labeled`: the prompt, its source, and how the weak and the
strong model of the chosen pair did on it (scores in 0..1). From those:

- the training label is ``need`` = how much better the strong model did (``max(0, strong - weak)``),
- the evaluation uses ``weak``/``strong`` as correctness (``>= 0.5``) for the PGR curve.

Pairwise preferences become outcomes too: the winner scores 1 and the loser 0, ``tie``
scores both 1, ``both_bad`` both 0. Which side of a preference is the *strong* model is
decided by the pair the caller named, or else by a model rank (the gateway passes its
catalog's complexity tiers), so arena votes between any two tiers can train the router.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec


class Labeled(msgspec.Struct, frozen=True):
    """One labeled prompt for the (weak, strong) pair.

    Attributes:
        id: The record's id (or a generated one).
        source: Task family or origin (``gsm8k``, ``feedback``, ``arena``...): the leave-one-source-out unit.
        prompt: The last user turn's text (what the scorer reads).
        weak: The weak model's score, 0..1.
        strong: The strong model's score, 0..1.
        kind: ``pair``, ``multi`` or ``preference`` (the record format it came from).
    """

    id: str
    source: str
    prompt: str
    weak: float
    strong: float
    kind: str

    @property
    def need(self) -> float:
        """How much the strong model was needed (the training target), 0..1."""
        return max(0.0, self.strong - self.weak)


class RecordError(ValueError):
    """A record that is none of the formats, or lacks what the chosen pair needs."""


def model_matches(name: str, wanted: str) -> bool:
    """``mistral-7b-chat`` matches ``mistralai/mistral-7b-chat``: a name equals, or is the last path part."""
    return name == wanted or name.rsplit("/", 1)[-1] == wanted.rsplit("/", 1)[-1]


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b if isinstance(b, str) else b.get("text", "") for b in content if isinstance(b, str | dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def prompt_text(obj: Mapping[str, Any]) -> str:
    """The last user turn of ``messages``, else ``prompt``."""
    messages = obj.get("messages")
    if isinstance(messages, list):
        for m in reversed(messages):
            if isinstance(m, dict) and m.get("role") == "user":
                return _content_text(m.get("content"))
    prompt = obj.get("prompt")
    if isinstance(prompt, str):
        return prompt
    raise RecordError("record has neither 'prompt' (a string) nor a user turn in 'messages'")


def _score(obj: Mapping[str, Any], side: str) -> float:
    for key in (f"{side}_score", f"{side}_correct"):
        value = obj.get(key)
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        if isinstance(value, int | float):
            if not 0.0 <= float(value) <= 1.0:
                raise RecordError(f"{key} must be within 0..1, got {value}")
            return float(value)
    raise RecordError(f"pair record needs {side}_correct (boolean) or {side}_score (0..1)")


def _outcome_score(outcomes: Mapping[str, Any], wanted: str) -> float | None:
    for name, outcome in outcomes.items():
        if model_matches(name, wanted) and isinstance(outcome, dict):
            value = outcome.get("score")
            if isinstance(value, bool | int | float):
                return float(value)
    return None


PREFERENCE_SCORES = {"model_a": (1.0, 0.0), "model_b": (0.0, 1.0), "tie": (1.0, 1.0), "both_bad": (0.0, 0.0)}


def to_labeled(
    obj: Mapping[str, Any],
    *,
    weak: str | None = None,
    strong: str | None = None,
    rank: Callable[[str], int | None] | None = None,
    default_source: str = "data",
    line: int = 0,
) -> Labeled | None:
    """One record as a labeled example, or ``None`` when it does not concern the chosen pair.

    Args:
        obj: A decoded JSON line.
        weak: The weak model of the pair (needed for multi-model records).
        strong: The strong model of the pair.
        rank: For preferences between other models: a model's rank (higher = stronger) or None.
        default_source: Source for records without one.
        line: Line number, for ids and messages.

    Raises:
        RecordError: The record is malformed (not merely about other models).
    """
    source = str(obj.get("source") or default_source)
    rid = str(obj.get("id") or f"{source}-{line}")
    text = prompt_text(obj)
    if "outcomes" in obj:
        outcomes = obj["outcomes"]
        if not isinstance(outcomes, dict):
            raise RecordError("'outcomes' must be an object of model -> {score}")
        if weak is None or strong is None:
            raise RecordError(f"multi-model records need --weak and --strong; models here: {sorted(outcomes)}")
        w, s = _outcome_score(outcomes, weak), _outcome_score(outcomes, strong)
        if w is None or s is None:
            return None
        return Labeled(rid, source, text, w, s, "multi")
    if "winner" in obj:
        a, b, winner = str(obj.get("model_a", "")), str(obj.get("model_b", "")), obj["winner"]
        if winner not in PREFERENCE_SCORES:
            raise RecordError(f"winner must be one of {sorted(PREFERENCE_SCORES)}, got {winner!r}")
        score_a, score_b = PREFERENCE_SCORES[winner]
        a_is_strong: bool | None = None
        if weak is not None and strong is not None:
            if model_matches(a, strong) and model_matches(b, weak):
                a_is_strong = True
            elif model_matches(a, weak) and model_matches(b, strong):
                a_is_strong = False
        if a_is_strong is None and rank is not None:
            ra, rb = rank(a), rank(b)
            if ra is not None and rb is not None and ra != rb:
                a_is_strong = ra > rb
        if a_is_strong is None:
            return None
        if a_is_strong:
            return Labeled(rid, source, text, score_b, score_a, "preference")
        return Labeled(rid, source, text, score_a, score_b, "preference")
    if "weak_model" in obj or any(k in obj for k in ("weak_correct", "weak_score")):
        return Labeled(rid, source, text, _score(obj, "weak"), _score(obj, "strong"), "pair")
    raise RecordError("not a training record: expected outcomes (multi-model), winner (preference) or weak_/strong_")


def read_records(
    lines: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    weak: str | None = None,
    strong: str | None = None,
    rank: Callable[[str], int | None] | None = None,
    default_source: str = "data",
) -> tuple[list[Labeled], int]:
    """Every record that concerns the pair, and how many did not (skipped).

    Raises:
        RecordError: With the line number of the first malformed record.
    """
    out: list[Labeled] = []
    skipped = 0
    for line, obj in lines:
        try:
            item = to_labeled(obj, weak=weak, strong=strong, rank=rank, default_source=default_source, line=line)
        except RecordError as exc:
            raise RecordError(f"line {line}: {exc}") from None
        if item is None:
            skipped += 1
        else:
            out.append(item)
    return out, skipped
