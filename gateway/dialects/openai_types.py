"""OpenAI Chat Completions as msgspec Structs: the request the gateway validates and the
slivers of responses and stream chunks it reads.

Only fields the gateway acts on are typed; every other field a client sends stays in the
raw dict returned next to the Struct, so a same-dialect upstream still receives it.
Parts and messages are single Structs with a ``type``/``role`` string rather than tagged
unions: a newer part type then reaches an OpenAI upstream untouched instead of being
refused here, and translation refuses only what it cannot express.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from gateway.dialects import RequestValidationError, decode_request

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "ChunkChoice",
    "ChunkDelta",
    "ContentPart",
    "OpenAIChunk",
    "StreamOptions",
    "Tool",
    "ToolCall",
    "parse_openai_request",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "developer", "user", "assistant", "tool")


class ImageURL(msgspec.Struct):
    """``image_url`` of an image part: an https URL or a ``data:`` URL."""

    url: str
    detail: str | None = None


class FileData(msgspec.Struct):
    """``file`` of a file part (a PDF as a ``data:`` URL, or an uploaded file id)."""

    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class ContentPart(msgspec.Struct):
    """One part of a message's content: text, image_url, input_audio, file or refusal."""

    type: str
    text: str | None = None
    image_url: ImageURL | None = None
    file: FileData | None = None
    refusal: str | None = None


class FunctionCall(msgspec.Struct):
    """The function an assistant turn called; ``arguments`` is a JSON text."""

    name: str
    arguments: str = ""


class ToolCall(msgspec.Struct):
    """A tool call in an assistant turn."""

    id: str
    function: FunctionCall
    type: str = "function"


Content = str | list[ContentPart] | None


class ChatMessage(msgspec.Struct):
    """A message of any role; role-specific fields are optional and checked after decoding."""

    role: Role
    content: Content = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None


class FunctionDefinition(msgspec.Struct):
    """A callable function offered to the model."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(msgspec.Struct):
    """A tool offered to the model (only ``function`` tools translate to Anthropic)."""

    type: str = "function"
    function: FunctionDefinition | None = None


class NamedFunction(msgspec.Struct):
    """The function a named tool_choice forces."""

    name: str


class NamedToolChoice(msgspec.Struct):
    """``{"type": "function", "function": {"name": ...}}``."""

    type: str = "function"
    function: NamedFunction | None = None


class StreamOptions(msgspec.Struct):
    """``stream_options``: whether the client wants the closing usage chunk."""

    include_usage: bool = False


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    """A ``POST /v1/chat/completions`` body, as far as the gateway needs it typed."""

    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = None
    tool_choice: str | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    n: int | None = None

    @property
    def include_usage(self) -> bool:
        """Whether the client asked for the closing usage chunk of a stream."""
        return self.stream_options is not None and self.stream_options.include_usage


_ENUMS = {"role": ROLES}


def parse_openai_request(body: bytes) -> tuple[dict[str, Any], ChatCompletionRequest]:
    """Decode and validate a body (see :func:`gateway.dialects.decode_request`), then the rules
    msgspec types cannot express."""
    raw, req = decode_request(body, ChatCompletionRequest, _ENUMS)
    for i, msg in enumerate(req.messages):
        if msg.role == "tool" and not msg.tool_call_id:
            raise RequestValidationError(
                f"messages[{i}].tool_call_id: required for a message with role 'tool'",
                f"messages[{i}].tool_call_id",
            )
        if msg.content is None and msg.role != "assistant":
            raise RequestValidationError(
                f"messages[{i}].content: required for a message with role '{msg.role}'",
                f"messages[{i}].content",
            )
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = getattr(req, name)
        if value is not None and value < 1:
            raise RequestValidationError(f"{name}: must be at least 1", name)
    return raw, req


# --- the slivers of responses and stream chunks the gateway reads -------------------------


class ToolCallDeltaFunction(msgspec.Struct):
    """Streamed function name/arguments fragment."""

    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(msgspec.Struct):
    """A streamed tool call fragment; ``id`` is set on its first fragment only."""

    index: int = 0
    id: str | None = None
    function: ToolCallDeltaFunction | None = None


class ChunkDelta(msgspec.Struct):
    """The ``delta`` of a streamed choice (``reasoning_content`` from compatible servers)."""

    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None


class ChunkChoice(msgspec.Struct):
    """A streamed choice."""

    index: int = 0
    delta: ChunkDelta | None = None
    finish_reason: str | None = None


class OpenAIChunk(msgspec.Struct):
    """A ``chat.completion.chunk`` (or an ``{"error": ...}`` frame) as far as it is read."""

    choices: list[ChunkChoice] | None = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | str | None = None
