"""Signal extraction: turns a conversation into named strengths in [0, 1].

Work is bounded whatever the input size: the last user turn is scanned through a
window (its head and its tail, ``max_query_chars`` in all), earlier turns contribute
only their count and lengths (``len`` is O(1)), and at most ``max_context_turns``
turns are visited. Every count goes through a saturating curve ``c / (c + k)`` so a
single signal cannot run away on a long input.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType

from router.lexical_table import TABLE_TEXT
from router.lexicon import (
    CODE_SYNTAX_RE,
    EMPHATIC,
    FENCE,
    LIST_ITEM_RE,
    MATH_SYNTAX_RE,
    NUMBER_RE,
    PHRASES,
    SIMPLE_PREFIX_CHARS,
    WORD_RE,
    WORD_SIGNAL,
)
from router.types import Conversation

SIGNALS: tuple[str, ...] = (
    "length",
    "reasoning",
    "code",
    "math",
    "multi_step",
    "constraints",
    "design",
    "technical",
    "simple_task",
    "lexical",
    "context",
    "tools",
    "attachments",
)


def _parse_table(text: str) -> MappingProxyType[str, float]:
    pairs = (item.rsplit(":", 1) for item in text.split())
    return MappingProxyType({w: float(v) for w, v in pairs})


LEXICAL_TABLE: MappingProxyType[str, float] = _parse_table(TABLE_TEXT)
# Slope of the squashing curve for the lexical score; raw scores spread about +-0.1.
_LEXICAL_SLOPE = 12.0
# Pseudo-count of neutral words: a prompt needs a few dozen known words to move the signal far.
_LEXICAL_PRIOR = 8.0


def lexical_signal(raw: float) -> float:
    """Map a raw lexical score (mean word weight) to [0, 1]; 0.5 is neutral."""
    return 1.0 / (1.0 + math.exp(-_LEXICAL_SLOPE * raw))


def _sat(count: float, half: float) -> float:
    """Saturating curve: 0 at 0, 0.5 at ``half``, approaching 1."""
    return count / (count + half) if count > 0 else 0.0


def window(text: str, max_chars: int) -> str:
    """The part of ``text`` that is scanned: all of it, or its head (3/4) and tail (1/4)."""
    if len(text) <= max_chars:
        return text
    head = max_chars * 3 // 4
    return text[:head] + "\n" + text[-(max_chars - head) :]


def last_user_index(conv: Conversation, max_turns: int) -> int:
    """Index of the last user turn among the last ``max_turns`` turns (else the last turn)."""
    msgs = conv.messages
    for i in range(len(msgs) - 1, max(-1, len(msgs) - 1 - max_turns), -1):
        if msgs[i].role == "user":
            return i
    return len(msgs) - 1


def length_signal(n_chars: int) -> float:
    """Log-scaled length: 0 at 20 characters or fewer, 1 at 10,000 or more."""
    if n_chars <= 20:
        return 0.0
    return min(1.0, (math.log10(n_chars) - 1.3) / (4.0 - 1.3))


def query_signals(text: str, table: Mapping[str, float] = LEXICAL_TABLE) -> dict[str, float]:
    """Signals read from the query text itself (already windowed).

    ``table`` is the lexical-difficulty word table; cross-validation passes a table
    fitted without the prompt's fold.
    """
    lower = text.lower()
    words = WORD_RE.findall(lower)
    n_words = max(1, len(words))
    hits: dict[str, int] = {}
    long_words = 0
    lexical_sum = 0.0
    lexical_known = 0
    for w, count in Counter(words).items():
        if len(w) >= 10:
            long_words += count
        weight = table.get(w)
        if weight is not None:
            lexical_sum += weight
            lexical_known += 1
        sig = WORD_SIGNAL.get(w) or (WORD_SIGNAL.get(w[:-1]) if w.endswith("s") else None)
        if sig is not None:
            hits[sig] = hits.get(sig, 0) + count * (3 if w in EMPHATIC else 1)
    for sig, pattern in PHRASES.items():
        found = len(pattern.findall(lower[:SIMPLE_PREFIX_CHARS] if sig == "simple_task" else lower))
        if found:
            hits[sig] = hits.get(sig, 0) + 2 * found
    numbers = len(NUMBER_RE.findall(text))
    code_syntax = len(CODE_SYNTAX_RE.findall(text)) + 8 * text.count(FENCE)
    math_syntax = len(MATH_SYNTAX_RE.findall(text))
    list_items = len(LIST_ITEM_RE.findall(text))
    questions = text.count("?")
    sentences = sum(text.count(p) for p in (". ", "? ", "! ", ".\n", "?\n"))
    short = 1.0 if n_words <= 40 else 40 / n_words
    return {
        "length": length_signal(len(text)),
        "reasoning": _sat(hits.get("reasoning", 0), 2.0),
        "code": max(_sat(hits.get("code", 0), 3.0), _sat(code_syntax, 6.0)),
        "math": 0.5 * _sat(hits.get("math", 0), 2.0) + 0.25 * _sat(math_syntax, 3.0) + 0.25 * _sat(numbers, 4.0),
        "multi_step": 0.4 * _sat(hits.get("multi_step", 0), 4.0)
        + 0.3 * _sat(list_items, 3.0)
        + 0.3 * _sat(max(0, sentences + questions - 1), 4.0),
        "constraints": _sat(hits.get("constraints", 0), 3.0),
        "design": _sat(hits.get("design", 0), 2.0),
        "technical": min(1.0, long_words / n_words / 0.15),
        "simple_task": min(1.0, _sat(hits.get("simple_task", 0), 1.0) * short * 1.5),
        "lexical": lexical_signal(lexical_sum / (lexical_known + _LEXICAL_PRIOR) if lexical_known else 0.0),
    }


def extract_signals(
    conv: Conversation, max_query_chars: int = 8000, max_context_turns: int = 64
) -> tuple[dict[str, float], int]:
    """All signals of a conversation and the full length of its last user turn.

    Args:
        conv: The conversation to score.
        max_query_chars: How much of the last user turn is scanned.
        max_context_turns: How many turns back the scorer looks for the user turn and context.

    Returns:
        ``(signals, query_length)``; every signal named in :data:`SIGNALS` is present.
    """
    msgs = conv.messages
    if not msgs:
        signals = dict.fromkeys(SIGNALS, 0.0)
        return signals, 0
    idx = last_user_index(conv, max_context_turns)
    query = msgs[idx].text
    signals = query_signals(window(query, max_query_chars))
    prior_turns = 0
    context_chars = 0
    for m in msgs[max(0, len(msgs) - max_context_turns) :]:
        if m is msgs[idx]:
            continue
        context_chars += len(m.text)
        if m.role != "system":
            prior_turns += 1
    signals["context"] = 0.5 * _sat(prior_turns, 6.0) + 0.5 * length_signal(context_chars)
    signals["tools"] = _sat(conv.n_tools, 3.0)
    signals["attachments"] = _sat(conv.n_attachments, 2.0)
    return signals, len(query)
