"""Organization/group system prompt injection into an upstream body.

The gateway's prompt goes BEFORE the client's own system prompt, in the upstream's
dialect, as its own unit that is byte-identical across requests: providers cache prompt
prefixes, so a stable leading block keeps the client's cached prefix (and any
``cache_control`` breakpoint the client set) valid instead of changing it per request.
"""

from __future__ import annotations

from typing import Any

__all__ = ["prepend_system_anthropic", "prepend_system_openai"]


def prepend_system_openai(body: dict[str, Any], prefix: str) -> None:
    """Insert ``prefix`` as a separate leading system message of a Chat Completions body.

    A separate message (rather than text glued onto the client's first system message)
    keeps the prefix identical across requests, whatever the client's system prompt is.
    """
    if not prefix:
        return
    body["messages"] = [{"role": "system", "content": prefix}, *body.get("messages", [])]


def prepend_system_anthropic(body: dict[str, Any], prefix: str) -> None:
    """Make ``system`` a list of text blocks whose first block is ``prefix``.

    A string ``system`` becomes a text block after it; block lists are kept as they are,
    with their ``cache_control``.
    """
    if not prefix:
        return
    system = body.get("system")
    blocks: list[Any] = [{"type": "text", "text": prefix}]
    if isinstance(system, str):
        if system:
            blocks.append({"type": "text", "text": system})
    elif isinstance(system, list):
        blocks.extend(system)
    body["system"] = blocks
