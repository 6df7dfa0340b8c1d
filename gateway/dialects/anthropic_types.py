"""Anthropic Messages as msgspec Structs: the request the gateway validates and the slivers
of responses and stream events it reads.

Only fields the gateway acts on are typed; everything else stays in the raw dict returned
next to the Struct, so an Anthropic upstream still receives it. Content blocks are one
Struct with a ``type`` string and optional fields rather than a tagged union: block types
Anthropic adds later (server tools, citations, containers) then pass through to an
Anthropic upstream, and only translation to OpenAI refuses what it cannot express.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from gateway.dialects import RequestValidationError, decode_request

__all__ = [
    "AnthropicEvent",
    "ContentBlock",
    "EventDelta",
    "ImageSource",
    "InputMessage",
    "MessagesRequest",
    "SystemBlock",
    "ToolChoice",
    "ToolDef",
    "parse_anthropic_request",
]

ROLES: tuple[str, ...] = ("user", "assistant")


class ImageSource(msgspec.Struct):
    """``source`` of an image or document block: base64, url, text or file."""

    type: str
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class ContentBlock(msgspec.Struct):
    """A content block of any type (text, image, document, tool_use, tool_result, thinking...).

    ``content`` is a tool_result's payload: a string or a list of (text, image) blocks.
    """

    type: str
    text: str | None = None
    source: ImageSource | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None
    tool_use_id: str | None = None
    content: str | list[ContentBlock] | None = None
    is_error: bool | None = None
    thinking: str | None = None
    cache_control: dict[str, Any] | None = None


class InputMessage(msgspec.Struct):
    """A conversation turn."""

    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class SystemBlock(msgspec.Struct):
    """A block of the ``system`` prompt (text, optionally with ``cache_control``)."""

    text: str
    type: str = "text"
    cache_control: dict[str, Any] | None = None


class ToolDef(msgspec.Struct):
    """A tool: a client tool (``type`` absent or ``custom``) or a server tool."""

    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    type: str | None = None


class ToolChoice(msgspec.Struct):
    """``tool_choice``: auto, any, tool (with ``name``) or none."""

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Metadata(msgspec.Struct):
    """``metadata``: the end user's opaque id."""

    user_id: str | None = None


class MessagesRequest(msgspec.Struct, kw_only=True):
    """A ``POST /v1/messages`` body, as far as the gateway needs it typed."""

    model: str
    messages: list[InputMessage]
    max_tokens: int
    system: str | list[SystemBlock] | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    tools: list[ToolDef] | None = None
    tool_choice: ToolChoice | None = None
    metadata: Metadata | None = None


_ENUMS = {"role": ROLES, "type": ("auto", "any", "tool", "none")}


def parse_anthropic_request(body: bytes) -> tuple[dict[str, Any], MessagesRequest]:
    """Decode and validate a body (see :func:`gateway.dialects.decode_request`), then the rules
    msgspec types cannot express."""
    raw, req = decode_request(body, MessagesRequest, _ENUMS)
    if req.max_tokens < 1:
        raise RequestValidationError("max_tokens: must be at least 1", "max_tokens")
    if req.tool_choice is not None and req.tool_choice.type == "tool" and not req.tool_choice.name:
        raise RequestValidationError("tool_choice.name: required when tool_choice.type is 'tool'", "tool_choice.name")
    return raw, req


# --- the slivers of responses and stream events the gateway reads -------------------------


class EventDelta(msgspec.Struct):
    """``delta`` of content_block_delta (text/json/thinking) or message_delta (stop)."""

    type: str | None = None
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None


class StartBlock(msgspec.Struct):
    """``content_block`` of content_block_start."""

    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    thinking: str | None = None


class StartMessage(msgspec.Struct):
    """``message`` of message_start: only its usage is read."""

    usage: dict[str, Any] | None = None


class AnthropicEvent(msgspec.Struct):
    """Any Anthropic stream event's data, as far as it is read."""

    type: str
    index: int | None = None
    message: StartMessage | None = None
    content_block: StartBlock | None = None
    delta: EventDelta | None = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
