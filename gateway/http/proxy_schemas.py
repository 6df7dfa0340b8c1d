"""Response shapes of the two proxy doors, typed for the OpenAPI document.

The doors relay bytes (see :mod:`gateway.http.proxy_routes`), so nothing on the request
path decodes into these; they describe what a non-streaming answer carries, as far as
the gateway promises it, and leave room for the fields providers add.
"""

from __future__ import annotations

from typing import Any

import msgspec


class CompletionMessage(msgspec.Struct):
    role: str
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class CompletionChoice(msgspec.Struct):
    index: int
    message: CompletionMessage
    finish_reason: str | None


class CompletionUsage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(msgspec.Struct):
    """``POST /v1/chat/completions`` with ``stream`` false (OpenAI Chat Completions)."""

    id: str
    object: str
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage | None = None


class MessageUsage(msgspec.Struct):
    input_tokens: int
    output_tokens: int


class Message(msgspec.Struct):
    """``POST /v1/messages`` with ``stream`` false (Anthropic Messages)."""

    id: str
    type: str
    role: str
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: MessageUsage
