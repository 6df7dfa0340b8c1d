"""The cascade's check: how much to doubt the cheap drafts, without another model call when it can.

Each draft is read into a normalized *answer*: a choice letter (``B``), a number
(``42``, ``-3.5``, ``1/2``), ``yes``/``no``, code (the fenced or bare Python, and whether
it parses), or free text. Then:

- **Short answers** (choice, number, yes/no): drafts that agree are trusted, drafts that
  differ are doubted; a single draft is doubted when no clear answer could be read from it.
- **Code**: a draft whose code does not parse is doubted outright; code that parses in
  every draft is compared by the functions it defines (names and argument counts) and
  by token overlap, which says less, so the doubt stays near the middle.
- **Long text**: token overlap between drafts gives a rough doubt, and the check asks for
  the judge model when one is configured (:func:`judge_prompt`, :func:`parse_verdict`).

Hedging ("I'm not sure", "I cannot") and empty drafts add doubt in every case. The
result's ``doubt`` is 0-100, higher = escalate; ``escalate`` applies the threshold.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import msgspec

AnswerKind = Literal["choice", "number", "yesno", "code", "text", "empty"]
SHORT_KINDS = ("choice", "number", "yesno")
# Past this many words a text answer is "long": comparison by value no longer applies.
SHORT_WORDS = 40

_FENCE_RE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_LINE_RE = re.compile(r"^(?:def |class |import |from \S+ import |async def )", re.M)
_CHOICE_PATTERNS = (
    re.compile(r"\b(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-J])\)?(?![\w'])", re.I),
    re.compile(r"^\W*\(?([A-J])\)?(?:[.):,\s]|$)"),
    re.compile(r"\(([A-J])\)"),
)
_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_FINAL_NUMBER_RES = (
    re.compile(r"####\s*(-?[\d,]*\.?\d+)"),
    re.compile(r"answer\s*(?:is|:)?\s*\$?\s*(-?[\d,]*\.?\d+)", re.I),
    re.compile(r"\\boxed\{\s*(-?[\d,]*\.?\d+)"),
)
_YESNO_RE = re.compile(r"^\W*(yes|no|true|false|correct|incorrect)\b", re.I)
_HEDGE_RE = re.compile(
    r"\b(?:i(?:'| a)m not (?:sure|certain)|i cannot|i can't|i'm unable|i am unable|unclear|"
    r"not enough information|it depends|hard to say|as an ai)\b",
    re.I,
)
_WORD_RE = re.compile(r"[a-z0-9_]+")
_YES = {"yes": "yes", "true": "yes", "correct": "yes", "no": "no", "false": "no", "incorrect": "no"}


class Answer(msgspec.Struct, frozen=True):
    """One draft read as a normalized answer.

    Attributes:
        kind: What the draft was read as.
        value: The normalized value (letter, number, yes/no, function signatures, or "").
        parses: For code: whether every code block parses as Python (None otherwise).
        hedged: The draft says it is unsure or cannot answer.
        words: Lowercase word tokens (for overlap between long drafts).
    """

    kind: AnswerKind
    value: str
    parses: bool | None
    hedged: bool
    words: tuple[str, ...]


class CheckResult(msgspec.Struct, frozen=True):
    """What the check found.

    Attributes:
        doubt: 0-100, higher = more reason to escalate (logged as the decision's ``score``).
        confidence: How sure the check is of its own verdict, 0.5..1.0.
        escalate: ``doubt >= threshold``.
        best: Index of the draft to return when not escalating.
        kind: The answer kind the comparison used.
        needs_judge: Long answers that only a judge model can compare.
        reasoning: One line saying what was compared and found.
    """

    doubt: int
    confidence: float
    escalate: bool
    best: int
    kind: str
    needs_judge: bool
    reasoning: str


def _strip_quotes(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        t = t[1:-1].replace("\\n", "\n").strip()
    return t


def _number(raw: str) -> str:
    t = raw.replace(",", "")
    try:
        if "/" in t:
            a, b = t.split("/", 1)
            value = float(a) / float(b)
        else:
            value = float(t)
    except (ValueError, ZeroDivisionError):
        return t
    return f"{value:.6g}"


def _code_blocks(text: str) -> list[str]:
    blocks = [body for lang, body in _FENCE_RE.findall(text) if lang.lower() in ("", "python", "py", "python3")]
    if blocks:
        return blocks
    if _CODE_LINE_RE.search(text):
        lines = text.splitlines()
        start = next(i for i, line in enumerate(lines) if _CODE_LINE_RE.match(line))
        return ["\n".join(lines[start:])]
    return []


def _signatures(tree: ast.AST) -> str:
    sigs = sorted(
        f"{node.name}/{len(node.args.args)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )
    return ",".join(sigs)


def read_answer(draft: str) -> Answer:
    """Normalize one draft (see the module docstring for the kinds, tried in that order)."""
    text = _strip_quotes(draft)
    words = tuple(_WORD_RE.findall(text.lower()))
    hedged = bool(_HEDGE_RE.search(text[:2000]))
    if not text:
        return Answer("empty", "", None, hedged, words)
    blocks = _code_blocks(text)
    if blocks:
        sigs = []
        parses = True
        for block in blocks:
            try:
                sigs.append(_signatures(ast.parse(block)))
            except (SyntaxError, ValueError):
                parses = False
        return Answer("code", ",".join(s for s in sigs if s), parses, hedged, words)
    short = len(words) <= SHORT_WORDS
    for pattern in _CHOICE_PATTERNS:
        found = pattern.search(text if pattern.pattern.startswith(r"\b") else text[:200])
        if found and (short or pattern.pattern.startswith(r"\b")):
            return Answer("choice", found.group(1).upper(), None, hedged, words)
    for pattern in _FINAL_NUMBER_RES:
        found = pattern.search(text)
        if found:
            return Answer("number", _number(found.group(1)), None, hedged, words)
    yes = _YESNO_RE.match(text)
    if yes and short:
        return Answer("yesno", _YES[yes.group(1).lower()], None, hedged, words)
    if short:
        numbers = _NUMBER_RE.findall(text)
        if numbers:
            return Answer("number", _number(numbers[-1]), None, hedged, words)
    return Answer("text", "", None, hedged, words)


def overlap(a: Sequence[str], b: Sequence[str]) -> float:
    """Token-multiset overlap of two drafts, 0..1 (1 = same words, same counts)."""
    ca, cb = Counter(a), Counter(b)
    total = sum((ca | cb).values())
    return sum((ca & cb).values()) / total if total else 1.0


def _min_overlap(answers: Sequence[Answer]) -> float:
    pairs = [(a, b) for i, a in enumerate(answers) for b in answers[i + 1 :]]
    return min(overlap(a.words, b.words) for a, b in pairs) if pairs else 1.0


def check_drafts(drafts: Sequence[str], threshold: int = 50) -> CheckResult:
    """Doubt about a set of drafts of the same request (at least one).

    Args:
        drafts: The drafters' answers (those that failed are left out by the caller).
        threshold: Escalate at or above this doubt.
    """
    if not drafts:
        return CheckResult(100, 1.0, True, 0, "empty", False, "no draft succeeded; escalating")
    answers = [read_answer(d) for d in drafts]
    kinds = {a.kind for a in answers}
    hedges = sum(a.hedged for a in answers)
    notes: list[str] = []
    needs_judge = False
    best = next((i for i, a in enumerate(answers) if a.kind != "empty" and not a.hedged), 0)
    if kinds == {"empty"}:
        doubt, kind, notes = 100, "empty", ["every draft is empty"]
    elif len(kinds) == 1 and next(iter(kinds)) in SHORT_KINDS:
        kind = next(iter(kinds))
        values = [a.value for a in answers]
        if len(answers) == 1:
            doubt = 30
            notes.append(f"one {kind} draft ({values[0]}), nothing to compare with")
        elif len(set(values)) == 1:
            doubt = 5
            notes.append(f"{len(answers)} drafts agree on {kind} {values[0]}")
        else:
            doubt = 90
            notes.append(f"drafts disagree on {kind}: {', '.join(values)}")
    elif "code" in kinds:
        kind = "code"
        code = [a for a in answers if a.kind == "code"]
        broken = sum(1 for a in code if not a.parses)
        if broken:
            doubt = 95
            notes.append(f"{broken} of {len(answers)} drafts have code that does not parse")
            best = next((i for i, a in enumerate(answers) if a.kind == "code" and a.parses), best)
        elif len(code) < len(answers):
            doubt = 70
            notes.append(f"only {len(code)} of {len(answers)} drafts contain code")
        elif len(answers) == 1:
            doubt = 45
            notes.append("one code draft, parses")
        else:
            same_sigs = len({a.value for a in code}) == 1
            sim = _min_overlap(code)
            doubt = round(55 - 25 * sim) if same_sigs else round(75 - 25 * sim)
            notes.append(
                f"code parses in every draft; functions {'match' if same_sigs else 'differ'}, overlap {sim:.2f}"
            )
    elif len(kinds) > 1 and kinds <= {*SHORT_KINDS, "text"}:
        kind = "mixed"
        doubt = 80
        notes.append(f"drafts answer in different forms ({', '.join(sorted(kinds))})")
    else:
        kind = "text"
        needs_judge = True
        if len(answers) == 1:
            doubt = 50
            notes.append("one long draft, nothing to compare with")
        else:
            sim = _min_overlap(answers)
            doubt = round(85 - 70 * sim)
            notes.append(f"long drafts, word overlap {sim:.2f}")
    if hedges:
        doubt = max(doubt, 75)
        notes.append(f"{hedges} draft(s) hedge or decline")
    doubt = max(0, min(100, doubt))
    confidence = round(0.5 + abs(doubt - threshold) / 100, 3)
    escalate = doubt >= threshold
    verdict = "escalating" if escalate else f"returning draft {best + 1}"
    return CheckResult(doubt, min(1.0, confidence), escalate, best, kind, needs_judge, "; ".join([*notes, verdict]))


JUDGE_INSTRUCTIONS = (
    "You check answers written by a smaller model. Read the question and the draft answer(s). "
    "Reply with one line: 'VERDICT: PASS' if a draft fully and correctly answers the question, "
    "or 'VERDICT: FAIL' if none does or you are unsure. Then a one-sentence reason."
)


def judge_prompt(question: str, drafts: Sequence[str], max_chars: int = 6000) -> str:
    """The user turn sent to the judge model (drafts truncated to keep the call cheap)."""
    share = max(200, max_chars // max(1, len(drafts)))
    parts = [f"Question:\n{question[:max_chars]}"]
    parts += [f"Draft {i + 1}:\n{d[:share]}" for i, d in enumerate(drafts)]
    return "\n\n".join(parts)


_VERDICT_RE = re.compile(r"VERDICT\s*:\s*(PASS|FAIL)", re.I)


def parse_verdict(reply: str) -> bool | None:
    """``True`` for PASS, ``False`` for FAIL, ``None`` when the judge said neither."""
    found = _VERDICT_RE.search(reply)
    return None if found is None else found.group(1).upper() == "PASS"


def with_verdict(result: CheckResult, verdict: bool | None, threshold: int = 50) -> CheckResult:
    """Fold the judge's verdict into a text check (an unreadable verdict keeps the overlap doubt)."""
    if verdict is None:
        return msgspec.structs.replace(result, reasoning=result.reasoning + "; judge gave no verdict")
    doubt = 15 if verdict else 90
    escalate = doubt >= threshold
    note = f"judge says {'PASS' if verdict else 'FAIL'}; " + (
        "escalating" if escalate else f"returning draft {result.best + 1}"
    )
    base = result.reasoning.rsplit("; ", 1)[0]
    return msgspec.structs.replace(
        result, doubt=doubt, escalate=escalate, confidence=0.85, needs_judge=False, reasoning=f"{base}; {note}"
    )
