"""The cascade's draft check: normalized comparison without model calls, and the judge's verdict."""

from __future__ import annotations

import pytest

from router.cascade import check_drafts, judge_prompt, parse_verdict, read_answer, with_verdict


@pytest.mark.parametrize(
    ("draft", "kind", "value"),
    [
        ("'B\\n'", "choice", "B"),
        ("The answer is (C) because the others are wrong.", "choice", "C"),
        ("A) Ian", "choice", "A"),
        ("She makes 18 dollars a day.\n#### 18", "number", "18"),
        ("So the answer is 1,250.", "number", "1250"),
        ("Yes, it is.", "yesno", "yes"),
        ("False", "yesno", "no"),
        ("```python\ndef f(a, b):\n    return a + b\n```", "code", "f/2"),
        ("", "empty", ""),
    ],
)
def test_read_answer_normalizes_short_answers(draft: str, kind: str, value: str) -> None:
    got = read_answer(draft)
    assert (got.kind, got.value) == (kind, value)


def test_code_that_does_not_parse_is_flagged() -> None:
    got = read_answer("```python\ndef f(a:\n    return a\n```")
    assert got.kind == "code"
    assert got.parses is False


def test_agreeing_choice_drafts_are_trusted() -> None:
    result = check_drafts(["B", "'B\\n'"])
    assert not result.escalate
    assert result.doubt < 50
    assert result.kind == "choice"
    assert "agree" in result.reasoning


def test_disagreeing_choice_drafts_escalate() -> None:
    result = check_drafts(["A", "B"])
    assert result.escalate
    assert result.doubt >= 90
    assert "disagree" in result.reasoning and "A, B" in result.reasoning


def test_numbers_compare_by_value_not_spelling() -> None:
    assert not check_drafts(["The answer is 1,000.", "#### 1000"]).escalate
    assert check_drafts(["The answer is 999.", "#### 1000"]).escalate


def test_broken_code_escalates_and_prefers_the_draft_that_parses() -> None:
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    bad = "```python\ndef add(a, b)\n    return a + b\n```"
    result = check_drafts([bad, good])
    assert result.escalate
    assert result.best == 1
    assert "does not parse" in result.reasoning


def test_matching_code_is_doubted_less_than_differing_code() -> None:
    a = "```python\ndef add(a, b):\n    return a + b\n```"
    b = "```python\ndef add(x, y):\n    return x + y\n```"
    c = "```python\ndef total(items):\n    return sum(items)\n```"
    assert check_drafts([a, b]).doubt < check_drafts([a, c]).doubt


def test_hedging_raises_doubt() -> None:
    assert check_drafts(["I'm not sure, but maybe B.", "B"]).escalate


def test_no_draft_means_escalation() -> None:
    result = check_drafts([])
    assert result.escalate and result.doubt == 100


def test_long_text_asks_for_the_judge_and_the_verdict_decides() -> None:
    long_a = " ".join(["the capital of france is paris and it lies on the seine"] * 6)
    long_b = " ".join(["rome is the capital of italy, an old city with many hills"] * 6)
    result = check_drafts([long_a, long_b])
    assert result.needs_judge
    passed = with_verdict(result, True)
    failed = with_verdict(result, False)
    assert not passed.escalate and failed.escalate
    assert "judge says PASS" in passed.reasoning
    assert with_verdict(result, None).doubt == result.doubt


def test_judge_prompt_and_verdict_parsing() -> None:
    text = judge_prompt("What is 2+2?", ["4", "four"])
    assert "Question:" in text and "Draft 2:" in text
    assert parse_verdict("VERDICT: PASS - fine") is True
    assert parse_verdict("verdict: fail") is False
    assert parse_verdict("looks good") is None
