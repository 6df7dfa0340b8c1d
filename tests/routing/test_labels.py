"""Traffic labels as training records: ratings, preferences, cascade decisions, arena verdicts (pure)."""

from __future__ import annotations

from typing import Any

from gateway.routing.labels import arena_labels, arena_preferences, cascade_label, preference_label, rating_label

MODELS = [{"id": "claude-haiku-4-5"}, {"id": "claude-opus-5"}, {"id": "claude-sonnet-5"}]
RANK = {"claude-haiku-4-5": 0, "claude-sonnet-5": 1, "claude-opus-5": 2}.get


def test_ratings_say_what_they_can() -> None:
    bad_weak = rating_label("r", -1, "simple", "q")
    assert bad_weak is not None and (bad_weak.weak, bad_weak.strong) == (0.0, 1.0)
    good_weak = rating_label("r", 1, "medium", "q")
    assert good_weak is not None and good_weak.need == 0.0
    bad_strong = rating_label("r", -1, "complex", "q")
    assert bad_strong is not None and (bad_strong.weak, bad_strong.strong) == (0.0, 0.0)
    assert rating_label("r", 1, "complex", "q") is None  # says nothing about the weak side
    assert rating_label("r", 0, "simple", "q") is None


def test_preferences_and_cascade() -> None:
    strong_won = preference_label("r", "simple", "complex", "q")
    assert strong_won is not None and strong_won.need == 1.0
    assert preference_label("r", "simple", "simple", "q") is None
    assert preference_label("r", "simple", "complex", None) is None
    assert cascade_label("r", "cascade: drafts disagree; escalating", "q").need == 1.0
    assert cascade_label("r", "cascade: 2 drafts agree; returning draft 1", "q").need == 0.0


def test_arena_vote_becomes_pairwise_preferences() -> None:
    vote = {"winner": 1, "winnerModelId": "claude-opus-5", "outcome": "win"}
    records = arena_preferences("b1", "prove it", MODELS, [vote])
    # Only the pairs that include the winner compare two models.
    assert sorted((r["model_a"], r["model_b"], r["winner"]) for r in records) == [
        ("claude-haiku-4-5", "claude-opus-5", "model_b"),
        ("claude-opus-5", "claude-sonnet-5", "model_a"),
    ]
    assert all(r["source"] == "arena-vote" for r in records)
    judged = arena_preferences("b1", "p", MODELS[:2], [{"judgeModel": "j", "outcome": "tie"}])
    assert [(r["winner"], r["source"]) for r in judged] == [("tie", "arena-judge")]


def test_arena_rows_to_labels() -> None:
    rows: list[tuple[Any, ...]] = [
        ("b1", "prove it", MODELS[:2], {"winnerModelId": "claude-opus-5", "outcome": "win"}, [])
    ]
    items, skipped = arena_labels(rows, RANK)
    assert skipped == 0 and len(items) == 1
    assert (items[0].weak, items[0].strong, items[0].prompt) == (0.0, 1.0, "prove it")
    unknown: list[tuple[Any, ...]] = [
        ("b2", "p", [{"id": "x"}, {"id": "y"}], {"winnerModelId": "x", "outcome": "win"}, [])
    ]
    assert arena_labels(unknown, RANK) == ([], 1)
