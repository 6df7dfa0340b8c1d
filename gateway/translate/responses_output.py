"""Chat Completions answers as OpenAI Responses API objects and typed stream events.

A whole completion becomes one ``response`` object; a stream of completion chunks becomes
the Responses event sequence the OpenAI SDKs parse::

    response.created -> response.in_progress
    -> response.output_item.added (message) -> response.content_part.added
       -> response.output_text.delta ... -> response.output_text.done
       -> response.content_part.done -> response.output_item.done
    -> response.output_item.added (function_call)
       -> response.function_call_arguments.delta ... -> response.function_call_arguments.done
       -> response.output_item.done
    -> response.completed (or response.incomplete), carrying the usage

Every event has a ``sequence_number``; SSE frames name the event type.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

__all__ = ["ResponsesStream", "chat_to_response", "new_response_id", "response_shell", "responses_usage"]

_enc = msgspec.json.Encoder()


def new_response_id() -> str:
    return f"resp_{uuid.uuid4().hex}"


def _item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def responses_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chat Completions usage (``prompt_tokens`` includes cached ones) in the Responses shape."""
    if not usage:
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


def response_shell(raw: dict[str, Any], response_id: str, model: str, created_at: int) -> dict[str, Any]:
    """The ``response`` object before any output: the request's settings echoed back."""
    reasoning = raw.get("reasoning") if isinstance(raw.get("reasoning"), dict) else None
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": raw.get("instructions"),
        "max_output_tokens": raw.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": raw.get("parallel_tool_calls", True),
        "previous_response_id": raw.get("previous_response_id"),
        "reasoning": {"effort": (reasoning or {}).get("effort"), "summary": None},
        "store": raw.get("store", True),
        "temperature": raw.get("temperature"),
        "text": raw.get("text") or {"format": {"type": "text"}},
        "tool_choice": raw.get("tool_choice", "auto"),
        "tools": raw.get("tools") or [],
        "top_p": raw.get("top_p"),
        "truncation": "disabled",
        "usage": None,
        "user": raw.get("user"),
        "metadata": raw.get("metadata") or {},
    }


def _message_item(text: str, item_id: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def _finish(shell: dict[str, Any], finish_reason: str | None, usage: dict[str, Any] | None) -> None:
    if finish_reason == "length":
        shell["status"] = "incomplete"
        shell["incomplete_details"] = {"reason": "max_output_tokens"}
    elif finish_reason == "content_filter":
        shell["status"] = "incomplete"
        shell["incomplete_details"] = {"reason": "content_filter"}
    else:
        shell["status"] = "completed"
    shell["usage"] = responses_usage(usage)


def chat_to_response(completion: dict[str, Any], shell: dict[str, Any]) -> dict[str, Any]:
    """A whole Chat Completions answer as a finished ``response`` object."""
    out = dict(shell)
    choices = completion.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(str(p.get("text") or "") for p in text if isinstance(p, dict))
    if text or message.get("refusal"):
        output.append(_message_item(text or str(message.get("refusal")), _item_id("msg")))
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        output.append(
            _call_item(_item_id("fc"), str(call.get("id") or ""), str(fn.get("name") or ""), fn.get("arguments") or "")
        )
    out["output"] = output
    _finish(out, choice.get("finish_reason"), completion.get("usage"))
    return out


def output_text(response: dict[str, Any]) -> str:
    """The concatenated text of a response's message items (the SDKs' ``output_text``)."""
    return "".join(
        part.get("text", "")
        for item in response.get("output", ())
        if item.get("type") == "message"
        for part in item.get("content", ())
        if part.get("type") == "output_text"
    )


class _Call:
    __slots__ = ("arguments", "call_id", "item_id", "name", "output_index")

    def __init__(self, call_id: str, name: str, output_index: int) -> None:
        self.item_id = _item_id("fc")
        self.call_id = call_id
        self.name = name
        self.arguments = ""
        self.output_index = output_index


class ResponsesStream:
    """Turns decoded Chat Completions chunks into Responses stream frames (SSE bytes)."""

    def __init__(self, shell: dict[str, Any]) -> None:
        self.response = shell
        self._seq = 0
        self._text: str | None = None  # the open message's text, None while no message is open
        self._msg_id = ""
        self._msg_index = 0
        self._calls: dict[int, _Call] = {}  # by the chunk's tool_call index
        self._output: list[dict[str, Any]] = []
        self._finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.failed = False

    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **payload}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + _enc.encode(payload) + b"\n\n"

    def start(self) -> bytes:
        return self._event("response.created", {"response": self.response}) + self._event(
            "response.in_progress", {"response": self.response}
        )

    def _open_message(self) -> bytes:
        self._text = ""
        self._msg_id = _item_id("msg")
        self._msg_index = len(self._output)
        self._output.append({})  # placeholder, filled when the message closes
        item = {"type": "message", "id": self._msg_id, "status": "in_progress", "role": "assistant", "content": []}
        part = {"type": "output_text", "text": "", "annotations": []}
        where = {"item_id": self._msg_id, "output_index": self._msg_index, "content_index": 0}
        return self._event("response.output_item.added", {"output_index": self._msg_index, "item": item}) + self._event(
            "response.content_part.added", {**where, "part": part}
        )

    def _close_message(self) -> bytes:
        if self._text is None:
            return b""
        text, self._text = self._text, None
        item = _message_item(text, self._msg_id)
        self._output[self._msg_index] = item
        where = {"item_id": self._msg_id, "output_index": self._msg_index, "content_index": 0}
        return (
            self._event("response.output_text.done", {**where, "text": text, "logprobs": []})
            + self._event("response.content_part.done", {**where, "part": item["content"][0]})
            + self._event("response.output_item.done", {"output_index": self._msg_index, "item": item})
        )

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """Frames for one decoded chunk (possibly none)."""
        out: list[bytes] = []
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                if self._text is None:
                    out.append(self._open_message())
                self._text = (self._text or "") + content
                where = {"item_id": self._msg_id, "output_index": self._msg_index, "content_index": 0}
                out.append(self._event("response.output_text.delta", {**where, "delta": content, "logprobs": []}))
            for tc in delta.get("tool_calls") or ():
                out.append(self._tool_delta(tc))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return b"".join(out)

    def _tool_delta(self, tc: dict[str, Any]) -> bytes:
        out = [self._close_message()]
        index = int(tc.get("index") or 0)
        fn = tc.get("function") or {}
        call = self._calls.get(index)
        if call is None:
            call = _Call(str(tc.get("id") or _item_id("call")), str(fn.get("name") or ""), len(self._output))
            self._calls[index] = call
            self._output.append({})
            item = _call_item(call.item_id, call.call_id, call.name, "", status="in_progress")
            out.append(self._event("response.output_item.added", {"output_index": call.output_index, "item": item}))
        args = fn.get("arguments")
        if args:
            call.arguments += args
            out.append(
                self._event(
                    "response.function_call_arguments.delta",
                    {"item_id": call.item_id, "output_index": call.output_index, "delta": args},
                )
            )
        return b"".join(out)

    def error(self, message: str, code: str | None) -> bytes:
        """The frames for a failure mid-stream: an ``error`` event, then ``response.failed``."""
        self.failed = True
        self.response = {
            **self.response,
            "status": "failed",
            "error": {"code": code or "server_error", "message": message},
        }
        return self._event("error", {"code": code, "message": message, "param": None}) + self._event(
            "response.failed", {"response": self.response}
        )

    def finish(self) -> bytes:
        """The closing frames: open items done, then ``response.completed`` with usage."""
        out = [self._close_message()]
        for call in self._calls.values():
            item = _call_item(call.item_id, call.call_id, call.name, call.arguments)
            self._output[call.output_index] = item
            where = {"item_id": call.item_id, "output_index": call.output_index}
            out.append(self._event("response.function_call_arguments.done", {**where, "arguments": call.arguments}))
            out.append(self._event("response.output_item.done", {"output_index": call.output_index, "item": item}))
        self._calls.clear()
        final = {**self.response, "output": [o for o in self._output if o]}
        _finish(final, self._finish, self.usage)
        self.response = final
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        out.append(self._event(kind, {"response": final}))
        return b"".join(out)


def created_now() -> int:
    return int(time.time())
