"""The scorer on hand-written chat cases, its config rules, and bounded work."""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import Any

import msgspec
import pytest

from router import DEFAULT_CONFIG, SIGNALS, Conversation, Message, RouterConfig, decode_config, score_conversation
from router.report import ordering_accuracy


def _user(text: str, **kw: int) -> Conversation:
    return Conversation((Message("user", text),), **kw)


def _cases() -> list[dict[str, Any]]:
    text = resources.files("router").joinpath("data/chat_cases.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _conv(case: dict[str, Any]) -> Conversation:
    msgs = tuple(Message(m["role"], m["content"]) for m in case["messages"])
    return Conversation(msgs, n_tools=case.get("n_tools", 0))


def test_chat_cases_are_ordered_and_mostly_right() -> None:
    cases = _cases()
    assert len(cases) >= 60
    decisions = [score_conversation(_conv(c), DEFAULT_CONFIG) for c in cases]
    expected = [c["tier"] for c in cases]
    assert ordering_accuracy(expected, [d.value for d in decisions]) >= 0.93
    accuracy = sum(d.complexity == e for d, e in zip(decisions, expected, strict=True)) / len(cases)
    assert accuracy >= 0.7
    # Never two tiers off.
    for d, e in zip(decisions, expected, strict=True):
        assert {d.complexity, e} != {"simple", "complex"}


def test_extremes() -> None:
    hi = score_conversation(_user("hi!"))
    proof = score_conversation(
        _user(
            "Prove that every planar graph is 5-colorable, step by step, and explain where the proof "
            "would break for 4 colors. Then derive the bound on edges from Euler's formula."
        )
    )
    rewrite = score_conversation(_user("Rewrite this to sound more polite: 'Send me the report now.'"))
    assert hi.complexity == "simple"
    assert rewrite.complexity == "simple"
    assert proof.complexity != "simple"
    assert proof.value > rewrite.value + 20
    assert "reasoning" in proof.reasoning or "proof" in proof.reasoning
    assert proof.signals["reasoning"] > 0.5
    assert hi.query_length == 3


def test_decision_fields_and_confidence() -> None:
    d = score_conversation(_user("Write a Python function that merges two sorted lists."))
    assert 0 <= d.score <= 100
    assert round(d.value) == d.score
    assert 0.5 <= d.confidence <= 1.0
    assert set(d.signals) == set(SIGNALS)
    assert d.config_version == 0
    assert d.complexity in d.reasoning
    # A config whose cut point sits on the score gives the minimum confidence.
    on_cut = RouterConfig(simple_max=d.score, medium_max=min(100, d.score + 40), weights={})
    assert score_conversation(_user("Write a Python function that merges two sorted lists."), on_cut).confidence < 0.55


def test_context_tools_and_attachments_raise_the_score() -> None:
    text = "Fix the failing test."
    base = score_conversation(_user(text)).value
    assert score_conversation(_user(text, n_tools=5)).value > base
    assert score_conversation(_user(text, n_attachments=2)).value > base
    history = tuple(Message("user" if i % 2 else "assistant", "earlier turn " * 50) for i in range(12))
    assert score_conversation(Conversation((*history, Message("user", text)))).value > base


def test_last_user_turn_is_the_query() -> None:
    conv = Conversation((Message("user", "hi"), Message("assistant", "Hello!"), Message("user", "thanks")))
    assert score_conversation(conv).query_length == len("thanks")


def test_weights_and_cut_points_come_from_the_config() -> None:
    text = "Design a sharded, fault tolerant queue with exactly-once delivery."
    default = score_conversation(_user(text))
    no_design = RouterConfig(version=7, simple_max=17, medium_max=55, weights={"design": 0.0})
    changed = score_conversation(_user(text), no_design)
    assert changed.value < default.value
    assert changed.config_version == 7


def test_validate_rejects_unknown_signals_and_bad_cut_points() -> None:
    with pytest.raises(ValueError, match="unknown signals"):
        RouterConfig(simple_max=10, medium_max=20, weights={"vibes": 1.0}).validate()
    with pytest.raises(ValueError, match="simple_max < medium_max"):
        RouterConfig(simple_max=50, medium_max=50, weights={}).validate()
    assert DEFAULT_CONFIG.validate() is DEFAULT_CONFIG


def test_decode_config_refuses_unknown_fields() -> None:
    good = decode_config(b'{"version": 3, "simple_max": 20, "medium_max": 60, "weights": {"code": 2.0}}')
    assert good.effective_weights()["code"] == 2.0
    with pytest.raises(msgspec.ValidationError):
        decode_config(b'{"simple_max": 20, "medium_max": 60, "weights": {}, "extra": 1}')
    with pytest.raises(ValueError, match="unknown signals"):
        decode_config(b'{"simple_max": 20, "medium_max": 60, "weights": {"nope": 1}}')


def test_work_is_bounded_on_huge_prompts() -> None:
    chunk = "Refactor the module and explain the trade-offs of each step. " * 20
    huge = _user(chunk * 2000)  # about 2.4 MB
    score_conversation(huge)
    t0 = time.perf_counter()
    d = score_conversation(huge)
    elapsed = time.perf_counter() - t0
    assert d.query_length == len(chunk) * 2000
    assert elapsed < 0.05  # the scanned window, not the input, sets the cost


def test_empty_conversation() -> None:
    d = score_conversation(Conversation(()))
    assert d.complexity == "simple"
    assert d.query_length == 0
