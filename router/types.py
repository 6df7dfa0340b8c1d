"""Value types of the router: what goes in (a conversation) and what comes out (a decision).

They are msgspec Structs because the gateway logs decisions and ships them over its own
boundaries; frozen so a decision can be cached and shared without defensive copies.
"""

from __future__ import annotations

import msgspec

from router.complexity import Complexity


class Message(msgspec.Struct, frozen=True):
    """One turn of a conversation, text only.

    Attributes:
        role: ``system``, ``user``, ``assistant`` or ``tool``.
        text: The turn's text; attachments are counted on the conversation instead.
    """

    role: str
    text: str


class Conversation(msgspec.Struct, frozen=True):
    """Everything the scorer may look at for one request.

    Attributes:
        messages: The turns in order; the last ``user`` turn is the query that matters most.
        n_tools: Tool definitions offered to the model (agentic requests are harder).
        n_attachments: Images/documents attached anywhere in the conversation.
    """

    messages: tuple[Message, ...]
    n_tools: int = 0
    n_attachments: int = 0


class Decision(msgspec.Struct, frozen=True):
    """The scorer's verdict for one conversation.

    Attributes:
        score: Complexity 0-100 (rounded ``value``); the cut points apply to it.
        confidence: 0.5 on a cut point rising to 1.0 far from every cut point.
        complexity: ``simple``, ``medium`` or ``complex``.
        reasoning: One short line naming the signals that drove the score.
        signals: Each signal's strength in [0, 1], keyed by signal name.
        query_length: Characters in the last user turn (the whole turn, not the scanned window).
        config_version: The router configuration version that produced it (0 = built-in).
        value: The unrounded score, for ranking without ties in offline evaluation.
    """

    score: int
    confidence: float
    complexity: Complexity
    reasoning: str
    signals: dict[str, float]
    query_length: int
    config_version: int
    value: float = 0.0
