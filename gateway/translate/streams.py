"""Streamed replies: translation event by event between the dialects, and observers that
learn text and usage from a same-dialect stream relayed untouched.

One object per stream. Each upstream event is decoded into a small Struct (only the
fields read), and a translator returns the client-dialect frames it makes right away:
nothing is buffered beyond the current event. Every object records, for the gateway to
store afterwards, ``text``, ``thinking``, ``usage`` (the upstream's usage mapping, merged
as the dialect defines: Anthropic's message_start usage updated by the non-null fields of
the last message_delta; OpenAI's final usage object), ``finish_reason`` (the upstream's
own stop reason) and ``error`` (the message of an upstream error, or of a stream that
ended before its reply was complete).
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.dialects.anthropic_types import AnthropicEvent
from gateway.dialects.openai_types import OpenAIChunk
from gateway.dialects.sse import OPENAI_DONE, SSEEvent, encode_anthropic_event, encode_openai_chunk
from gateway.translate.responses import (
    anthropic_finish_to_openai,
    anthropic_usage_to_openai,
    openai_finish_to_anthropic,
    openai_usage_to_anthropic,
)

__all__ = [
    "AnthropicStreamObserver",
    "AnthropicToOpenAIStream",
    "OpenAIStreamObserver",
    "OpenAIToAnthropicStream",
]

_A_DECODER = msgspec.json.Decoder(AnthropicEvent)
_O_DECODER = msgspec.json.Decoder(OpenAIChunk)
_INCOMPLETE = "upstream stream ended before the reply was complete"
_MALFORMED = "upstream sent a malformed stream event"
_SKIP_ANTHROPIC = frozenset(("ping", "content_block_stop", "message_stop"))
_ANTHROPIC_ERROR_TYPES = frozenset(
    ("invalid_request_error", "authentication_error", "permission_error", "not_found_error",
     "rate_limit_error", "overloaded_error", "api_error", "request_too_large", "billing_error")
)  # fmt: skip


def _error_message(error: Any, default: str) -> tuple[str, str | None]:
    """(message, type) of an error object as either dialect sends it."""
    if isinstance(error, dict):
        msg = error.get("message")
        kind = error.get("type")
        return (msg if isinstance(msg, str) and msg else default), (kind if isinstance(kind, str) else None)
    if isinstance(error, str) and error:
        return error, None
    return default, None


class _Recorded:
    """What the gateway records about a stream, whichever dialect it came in."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._thinking: list[str] = []
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.error: str | None = None
        # The dialect's end-of-stream marker arrived (OpenAI ``[DONE]``, Anthropic ``message_stop``).
        self.done = False
        # The provider's closing usage arrived (Anthropic: a message_delta with usage; OpenAI: the
        # usage chunk). Without it, output is counted from the streamed text (an estimate).
        self.usage_final = False

    @property
    def text(self) -> str:
        """The assistant text streamed so far."""
        return "".join(self._text)

    @property
    def thinking(self) -> str:
        """The reasoning text streamed so far (Anthropic thinking, OpenAI-compatible reasoning)."""
        return "".join(self._thinking)


class _AnthropicRecorded(_Recorded):
    def _absorb(self, e: AnthropicEvent) -> None:
        """Record text, thinking, usage and stop reason from one decoded event."""
        kind = e.type
        if kind == "content_block_delta" and e.delta is not None:
            if e.delta.text is not None:
                self._text.append(e.delta.text)
            elif e.delta.thinking is not None:
                self._thinking.append(e.delta.thinking)
        elif kind == "message_start" and e.message is not None:
            self.usage = dict(e.message.usage or {})
        elif kind == "message_delta":
            if e.delta is not None:
                self.finish_reason = e.delta.stop_reason
            if e.usage:
                merged = dict(self.usage or {})
                merged.update((k, v) for k, v in e.usage.items() if v is not None)
                self.usage = merged
                self.usage_final = True
        elif kind == "content_block_start" and e.content_block is not None:
            block = e.content_block
            if block.type == "text" and block.text:
                self._text.append(block.text)
            elif block.type == "thinking" and block.thinking:
                self._thinking.append(block.thinking)


class AnthropicStreamObserver(_AnthropicRecorded):
    """Learns text and usage from an Anthropic stream the gateway relays untouched."""

    def observe(self, ev: SSEEvent) -> bool:
        """Record what ``ev`` says; always True (every Anthropic event goes to the client)."""
        if ev.event in _SKIP_ANTHROPIC:
            if ev.event == "message_stop":
                self.done = True
            return True
        try:
            e = _A_DECODER.decode(ev.data)
        except msgspec.DecodeError:
            return True
        if e.type == "error":
            self.error = _error_message(e.error, "upstream error")[0]
        elif e.type == "message_stop":
            self.done = True
        else:
            self._absorb(e)
        return True


class AnthropicToOpenAIStream(_AnthropicRecorded):
    """Anthropic upstream events -> OpenAI ``chat.completion.chunk`` frames."""

    def __init__(self, model: str, include_usage: bool, created: int, completion_id: str) -> None:
        super().__init__()
        self._model = model
        self._include_usage = include_usage
        self._created = created
        self._id = completion_id
        self._tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index
        self._done = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return encode_openai_chunk(
            {"id": self._id, "object": "chat.completion.chunk", "created": self._created,
             "model": self._model, "choices": [choice]}
        )  # fmt: skip

    def feed(self, ev: SSEEvent) -> list[bytes]:
        """Translate one upstream event into the OpenAI frames it makes (often one, maybe none)."""
        if self._done or ev.event == "ping":
            return []
        try:
            e = _A_DECODER.decode(ev.data)
        except msgspec.DecodeError:
            return self._fail(_MALFORMED, None)
        self._absorb(e)
        kind, delta = e.type, e.delta
        if kind == "content_block_delta" and delta is not None:
            if delta.text is not None:
                return [self._chunk({"content": delta.text})]
            if delta.partial_json is not None and e.index in self._tool_index:
                call = {"index": self._tool_index[e.index], "function": {"arguments": delta.partial_json}}
                return [self._chunk({"tool_calls": [call]})]
            return []
        if kind == "content_block_start" and e.content_block is not None:
            block = e.content_block
            if block.type == "tool_use" and e.index is not None:
                index = self._tool_index[e.index] = len(self._tool_index)
                fn = {"name": block.name or "", "arguments": ""}
                call = {"index": index, "id": block.id or "", "type": "function", "function": fn}
                return [self._chunk({"tool_calls": [call]})]
            if block.type == "text" and block.text:
                return [self._chunk({"content": block.text})]
            return []
        if kind == "message_start":
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "message_delta":
            return [self._chunk({}, anthropic_finish_to_openai(self.finish_reason))]
        if kind == "message_stop":
            return self._close()
        if kind == "error":
            return self._fail(*_error_message(e.error, "upstream error"))
        return []

    def finish(self) -> list[bytes]:
        """Frames still owed at the end of the upstream body (none if already closed)."""
        if self._done:
            return []
        if self.finish_reason is not None:
            return self._close()
        return self._fail(_INCOMPLETE, None)

    def _close(self) -> list[bytes]:
        self._done = True
        self.done = True
        if not self._include_usage:
            return [OPENAI_DONE]
        usage = anthropic_usage_to_openai(self.usage)
        last = {"id": self._id, "object": "chat.completion.chunk", "created": self._created,
                "model": self._model, "choices": [], "usage": usage}  # fmt: skip
        return [encode_openai_chunk(last), OPENAI_DONE]

    def _fail(self, message: str, kind: str | None) -> list[bytes]:
        """An OpenAI error frame (the SDK raises ``APIError`` on it); nothing follows it."""
        self.error = message
        self._done = True
        return [encode_openai_chunk({"error": {"message": message, "type": kind or "api_error", "code": None}})]


class _OpenAIRecorded(_Recorded):
    def _absorb(self, c: OpenAIChunk) -> None:
        if c.usage is not None:
            self.usage = c.usage
            self.usage_final = True
        for choice in c.choices or ():
            d = choice.delta
            if d is not None:
                if text := d.content or d.refusal:
                    self._text.append(text)
                if reasoning := d.reasoning_content or d.reasoning:
                    self._thinking.append(reasoning)
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason


class OpenAIStreamObserver(_OpenAIRecorded):
    """Learns text and usage from an OpenAI stream the gateway relays untouched.

    The gateway always asks the upstream for the closing usage chunk; ``observe`` returns
    False for it when the client did not ask, so the client sees the stream it asked for.
    """

    def __init__(self, include_usage: bool) -> None:
        super().__init__()
        self._include_usage = include_usage

    def observe(self, ev: SSEEvent) -> bool:
        """Record what ``ev`` says; False when the event must be withheld from the client."""
        if ev.data == b"[DONE]":
            self.done = True
            return True
        try:
            c = _O_DECODER.decode(ev.data)
        except msgspec.DecodeError:
            return True
        if c.error is not None or ev.event == "error":
            self.error = _error_message(c.error, "upstream error")[0]
            return True
        self._absorb(c)
        return not (c.usage is not None and not c.choices and not self._include_usage)


class OpenAIToAnthropicStream(_OpenAIRecorded):
    """OpenAI upstream chunks -> Anthropic Messages stream events.

    Anthropic content blocks are sequential, so a block is closed when the next kind
    starts (thinking -> text -> each tool call). OpenAI sends usage after the finish
    reason, so ``message_delta`` waits for ``[DONE]`` (or ``finish``).
    """

    def __init__(self, model: str, message_id: str) -> None:
        super().__init__()
        self._model = model
        self._id = message_id
        self._started = False
        self._done = False
        self._block = -1  # index of the last block opened
        self._open: str | None = None  # kind of the open block: thinking, text, tool
        self._tool_block: dict[int, int] = {}  # OpenAI tool_calls index -> Anthropic block index

    def _start(self) -> bytes:
        self._started = True
        message: dict[str, Any] = {
            "id": self._id, "type": "message", "role": "assistant", "model": self._model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0},
        }  # fmt: skip
        return encode_anthropic_event("message_start", {"type": "message_start", "message": message})

    def _open_block(self, kind: str, block: dict[str, Any], out: list[bytes]) -> int:
        self._close_block(out)
        self._block += 1
        self._open = kind
        start = {"type": "content_block_start", "index": self._block, "content_block": block}
        out.append(encode_anthropic_event("content_block_start", start))
        return self._block

    def _close_block(self, out: list[bytes]) -> None:
        if self._open is not None:
            stop = {"type": "content_block_stop", "index": self._block}
            out.append(encode_anthropic_event("content_block_stop", stop))
            self._open = None

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        event = {"type": "content_block_delta", "index": index, "delta": delta}
        return encode_anthropic_event("content_block_delta", event)

    def feed(self, ev: SSEEvent) -> list[bytes]:
        """Translate one upstream chunk into the Anthropic events it makes."""
        if self._done:
            return []
        if ev.data.strip() == b"[DONE]":
            return self._close()
        try:
            c = _O_DECODER.decode(ev.data)
        except msgspec.DecodeError:
            return self._fail(_MALFORMED, None)
        if c.error is not None or ev.event == "error":
            return self._fail(*_error_message(c.error, "upstream error"))
        self._absorb(c)
        out: list[bytes] = [] if self._started else [self._start()]
        for choice in c.choices or ():
            d = choice.delta
            if d is None or choice.index != 0:
                continue
            if reasoning := d.reasoning_content or d.reasoning:
                if self._open != "thinking":
                    self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
                out.append(self._delta(self._block, {"type": "thinking_delta", "thinking": reasoning}))
            if text := d.content or d.refusal:
                if self._open != "text":
                    self._open_block("text", {"type": "text", "text": ""}, out)
                out.append(self._delta(self._block, {"type": "text_delta", "text": text}))
            for call in d.tool_calls or ():
                fn = call.function
                index = self._tool_block.get(call.index)
                if index is None:
                    tool_id = call.id or f"toolu_{self._id}_{call.index}"
                    block = {
                        "type": "tool_use",
                        "id": tool_id,
                        "name": (fn.name if fn else None) or "",
                        "input": {},
                    }
                    index = self._tool_block[call.index] = self._open_block("tool", block, out)
                if fn is not None and fn.arguments:
                    out.append(self._delta(index, {"type": "input_json_delta", "partial_json": fn.arguments}))
        return out

    def finish(self) -> list[bytes]:
        """Events still owed at the end of the upstream body (none if already closed)."""
        if self._done:
            return []
        if self.finish_reason is not None:
            return self._close()
        return self._fail(_INCOMPLETE, None)

    def _close(self) -> list[bytes]:
        self._done = True
        self.done = True
        out: list[bytes] = [] if self._started else [self._start()]
        self._close_block(out)
        delta = {"stop_reason": openai_finish_to_anthropic(self.finish_reason), "stop_sequence": None}
        usage = openai_usage_to_anthropic(self.usage)
        out.append(encode_anthropic_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        out.append(encode_anthropic_event("message_stop", {"type": "message_stop"}))
        return out

    def _fail(self, message: str, kind: str | None) -> list[bytes]:
        """An Anthropic ``error`` event (the SDK raises on it); nothing follows it."""
        self.error = message
        self._done = True
        kind = kind if kind in _ANTHROPIC_ERROR_TYPES else "api_error"
        body = {"type": "error", "error": {"type": kind, "message": message}}
        return [encode_anthropic_event("error", body)]
