"""Non-streamed response translation, the stop-reason and usage mappings both directions
share (streams use them too), and what the gateway records from a same-dialect response.

Usage semantics differ: OpenAI's ``prompt_tokens`` includes cached tokens (reported again
in ``prompt_tokens_details.cached_tokens``), while Anthropic's ``input_tokens`` excludes
cache reads and cache writes, which are reported beside it. The mappings keep totals equal.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from pricing import to_anthropic_usage, to_openai_usage, usage_from_anthropic, usage_from_openai

__all__ = [
    "ResponseSummary",
    "anthropic_finish_to_openai",
    "anthropic_response_to_openai",
    "anthropic_usage_to_openai",
    "observe_anthropic_response",
    "observe_openai_response",
    "openai_finish_to_anthropic",
    "openai_response_to_anthropic",
    "openai_usage_to_anthropic",
    "parse_tool_arguments",
]

_A2O_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_O2A_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def anthropic_finish_to_openai(stop_reason: str | None) -> str:
    """Anthropic ``stop_reason`` -> OpenAI ``finish_reason`` (unknown reasons: ``stop``)."""
    return _A2O_STOP.get(stop_reason or "", "stop")


def openai_finish_to_anthropic(finish_reason: str | None) -> str:
    """OpenAI ``finish_reason`` -> Anthropic ``stop_reason`` (unknown reasons: ``end_turn``).

    OpenAI does not say which stop sequence matched, so ``stop`` is always ``end_turn``.
    """
    return _O2A_STOP.get(finish_reason or "", "end_turn")


def anthropic_usage_to_openai(usage: dict[str, Any] | None) -> dict[str, Any]:
    """Anthropic usage -> OpenAI ``CompletionUsage`` (through ``pricing``'s one normalization)."""
    return dict(to_openai_usage(usage_from_anthropic(usage or {})))


def openai_usage_to_anthropic(usage: dict[str, Any] | None) -> dict[str, Any]:
    """OpenAI ``CompletionUsage`` -> Anthropic usage (cached prompt tokens split out)."""
    return dict(to_anthropic_usage(usage_from_openai(usage or {})))


def parse_tool_arguments(arguments: str | None) -> dict[str, Any]:
    """A tool call's JSON arguments as the object Anthropic's ``tool_use.input`` must be.

    Models occasionally emit invalid JSON; the text is then kept under ``_raw_arguments``
    rather than lost, so the client can still see what the model produced.
    """
    if not arguments or not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return {"_raw_arguments": arguments}
    return value if isinstance(value, dict) else {"_raw_arguments": arguments}


def anthropic_response_to_openai(
    body: dict[str, Any], *, model: str, completion_id: str | None = None, created: int | None = None
) -> dict[str, Any]:
    """An Anthropic ``Message`` -> an OpenAI ``ChatCompletion`` named after ``model``."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in body.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            args = msgspec.json.encode(block.get("input") or {}).decode()
            fn = {"name": block.get("name", ""), "arguments": args}
            calls.append({"id": block.get("id", ""), "type": "function", "function": fn})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": anthropic_finish_to_openai(body.get("stop_reason")),
        "logprobs": None,
    }
    return {
        "id": completion_id or f"chatcmpl-{body.get('id', '')}",
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [choice],
        "usage": anthropic_usage_to_openai(body.get("usage")),
    }


def openai_response_to_anthropic(body: dict[str, Any], *, model: str, message_id: str | None = None) -> dict[str, Any]:
    """An OpenAI ``ChatCompletion`` -> an Anthropic ``Message`` named after ``model``.

    Only the first choice is read (the request was translated with one choice). Reasoning
    text that OpenAI-compatible servers return as ``reasoning_content`` becomes a thinking
    block with an empty signature.
    """
    choices = body.get("choices") or [{}]
    choice = choices[0]
    msg = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if reasoning := msg.get("reasoning_content") or msg.get("reasoning"):
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    if text := msg.get("content") or msg.get("refusal"):
        content.append({"type": "text", "text": text})
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        block = {
            "type": "tool_use",
            "id": call.get("id", ""),
            "name": fn.get("name", ""),
            "input": parse_tool_arguments(fn.get("arguments")),
        }
        content.append(block)
    finish = choice.get("finish_reason")
    return {
        "id": message_id or f"msg_{body.get('id', '')}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "refusal" if msg.get("refusal") and not finish else openai_finish_to_anthropic(finish),
        "stop_sequence": None,
        "usage": openai_usage_to_anthropic(body.get("usage")),
    }


# --- what the gateway records from a response it relays untouched --------------------------


class ResponseSummary(msgspec.Struct, frozen=True):
    """What a finished response said: assistant text, reasoning, raw usage, stop reason."""

    text: str
    thinking: str
    usage: dict[str, Any] | None
    finish_reason: str | None


class _OMessage(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None


class _OChoice(msgspec.Struct):
    message: _OMessage | None = None
    finish_reason: str | None = None


class _OResponse(msgspec.Struct):
    choices: list[_OChoice] | None = None
    usage: dict[str, Any] | None = None


class _ABlock(msgspec.Struct):
    type: str
    text: str | None = None
    thinking: str | None = None


class _AResponse(msgspec.Struct):
    content: list[_ABlock] | None = None
    stop_reason: str | None = None
    usage: dict[str, Any] | None = None


_O_DECODER = msgspec.json.Decoder(_OResponse)
_A_DECODER = msgspec.json.Decoder(_AResponse)


def observe_openai_response(body: bytes | dict[str, Any]) -> ResponseSummary:
    """Summarize a ChatCompletion (raw bytes are decoded into a small Struct, not a dict)."""
    resp = _O_DECODER.decode(body) if isinstance(body, bytes) else msgspec.convert(body, _OResponse)
    choice = resp.choices[0] if resp.choices else _OChoice()
    msg = choice.message or _OMessage()
    return ResponseSummary(
        text=msg.content or msg.refusal or "",
        thinking=msg.reasoning_content or "",
        usage=resp.usage,
        finish_reason=choice.finish_reason,
    )


def observe_anthropic_response(body: bytes | dict[str, Any]) -> ResponseSummary:
    """Summarize an Anthropic Message (raw bytes are decoded into a small Struct)."""
    resp = _A_DECODER.decode(body) if isinstance(body, bytes) else msgspec.convert(body, _AResponse)
    blocks = resp.content or []
    return ResponseSummary(
        text="".join(b.text or "" for b in blocks if b.type == "text"),
        thinking="".join(b.thinking or "" for b in blocks if b.type == "thinking"),
        usage=resp.usage,
        finish_reason=resp.stop_reason,
    )
