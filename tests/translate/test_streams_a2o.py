"""Anthropic upstream stream -> OpenAI client stream, read back by the official openai SDK."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from gateway.dialects.sse import SSEParser
from gateway.translate.streams import AnthropicToOpenAIStream
from tests.translate.fixtures import (
    a_event,
    a_start,
    a_text_stream,
    a_tool_stream,
    openai_sdk,
    parse_all,
    split_randomly,
)

PIECES = ["Hel", "lo, ", "wor", "ld! ", "é😀"]


def translate(upstream: bytes, *, include_usage: bool, seed: int = 0) -> tuple[AnthropicToOpenAIStream, bytes]:
    tr = AnthropicToOpenAIStream("claude-via-openai", include_usage, 1_700_000_123, "chatcmpl-gw1")
    out: list[bytes] = []
    for ev in parse_all(split_randomly(upstream, seed)):
        out += tr.feed(ev)
    out += tr.finish()
    return tr, b"".join(out)


def chunks_of(body: bytes) -> list[dict[str, Any]]:
    """Every data frame before [DONE], as JSON; asserts [DONE] closes the stream."""
    events = SSEParser().feed(body)
    assert events[-1].data == b"[DONE]"
    return [json.loads(ev.data) for ev in events[:-1]]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_text_reply_with_cache_usage_parses_in_sdk(seed: int) -> None:
    tr, body = translate(a_text_stream(PIECES), include_usage=True, seed=seed)
    chunks = [ChatCompletionChunk.model_validate(c) for c in chunks_of(body)]
    assert all(c.id == "chatcmpl-gw1" and c.model == "claude-via-openai" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(PIECES)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    assert chunks[-1].choices == []
    assert usage is not None
    assert usage.prompt_tokens == 21 + 300 + 4000
    assert usage.completion_tokens == 12
    assert usage.total_tokens == 21 + 300 + 4000 + 12
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 4000
    assert tr.text == "".join(PIECES)
    assert tr.finish_reason == "end_turn"
    assert tr.usage is not None
    assert tr.usage["input_tokens"] == 21
    assert tr.usage["output_tokens"] == 12
    assert tr.usage["cache_read_input_tokens"] == 4000
    assert tr.error is None


def test_sdk_stream_iteration_without_usage() -> None:
    _, body = translate(a_text_stream(["a", "b"]), include_usage=False)
    client = openai_sdk(body)
    chunks = list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True))
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "ab"


@pytest.mark.parametrize(("stop", "finish"), [("max_tokens", "length"), ("stop_sequence", "stop"),
                                              ("refusal", "content_filter")])  # fmt: skip
def test_stop_reasons(stop: str, finish: str) -> None:
    tr, body = translate(a_text_stream(["x"], stop=stop), include_usage=False)
    chunks = [ChatCompletionChunk.model_validate(c) for c in chunks_of(body)]
    assert chunks[-1].choices[0].finish_reason == finish
    assert tr.finish_reason == stop


@pytest.mark.parametrize("seed", [0, 5, 9])
def test_tool_call_arguments_stream_incrementally(seed: int) -> None:
    pieces = ['{"loca', 'tion": "Pa', "ris", '", "unit": "c"}']
    tr, body = translate(a_tool_stream(pieces), include_usage=True, seed=seed)
    chunks = [ChatCompletionChunk.model_validate(c) for c in chunks_of(body)]
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id == "toolu_01A"
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert calls[0].type == "function"
    assert [tc.function.arguments for tc in calls[1:] if tc.function] == pieces  # one chunk per piece
    assert all(tc.index == 0 for tc in calls)
    # The SDK's own accumulator sees one complete call and a parseable argument text.
    final = openai_sdk(body).chat.completions.stream(model="m", messages=[{"role": "user", "content": "x"}])
    with final as stream:
        completion = stream.get_final_completion()
    msg = completion.choices[0].message
    assert msg.content == "Checking."
    assert msg.tool_calls is not None
    assert len(msg.tool_calls) == 1
    assert json.loads(msg.tool_calls[0].function.arguments) == {"location": "Paris", "unit": "c"}
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 57
    assert tr.finish_reason == "tool_use"
    assert tr.text == "Checking."


def test_error_mid_stream_becomes_openai_error_chunk() -> None:
    upstream = a_text_stream(["partial "])
    cut = upstream.index(b"event: content_block_stop")
    err = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    tr, body = translate(upstream[:cut] + a_event("error", err), include_usage=True)
    assert tr.error == "Overloaded"
    assert b"[DONE]" not in body
    last = json.loads(SSEParser().feed(body)[-1].data)
    assert last == {"error": {"message": "Overloaded", "type": "overloaded_error", "code": None}}
    received: list[str] = []

    def consume() -> None:
        for c in openai_sdk(body).chat.completions.create(model="m", messages=[], stream=True):
            received.append(c.choices[0].delta.content or "")

    with pytest.raises(openai.APIError, match="Overloaded"):
        consume()
    assert "".join(received) == "partial "


def test_stream_cut_before_completion_ends_with_error() -> None:
    upstream = a_start({"input_tokens": 3, "output_tokens": 1}) + a_event(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    tr, body = translate(upstream, include_usage=True)
    assert tr.error is not None
    assert "ended before" in tr.error
    assert json.loads(SSEParser().feed(body)[-1].data)["error"]["message"] == tr.error
    assert tr.finish() == []


def test_stream_without_message_stop_still_closes() -> None:
    upstream = a_text_stream(["ok"])
    upstream = upstream[: upstream.index(b"event: message_stop")]
    tr, body = translate(upstream, include_usage=False)
    assert body.endswith(b"data: [DONE]\n\n")
    assert tr.error is None


def test_thinking_is_recorded_not_sent() -> None:
    def block(index: int, kind: str, **fields: str) -> bytes:
        data = {"type": "content_block_start", "index": index, "content_block": {"type": kind, **fields}}
        return a_event("content_block_start", data)

    def delta(index: int, **fields: str) -> bytes:
        return a_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": fields})

    upstream = b"".join([
        a_start({"input_tokens": 5, "output_tokens": 1}),
        block(0, "thinking", thinking="", signature=""),
        delta(0, type="thinking_delta", thinking="Let me see"),
        delta(0, type="signature_delta", signature="sig"),
        a_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        block(1, "text", text=""),
        delta(1, type="text_delta", text="Answer"),
        a_event("content_block_stop", {"type": "content_block_stop", "index": 1}),
        a_event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                  "usage": {"output_tokens": 30}}),
        a_event("message_stop", {"type": "message_stop"}),
    ])  # fmt: skip
    tr, body = translate(upstream, include_usage=False)
    assert tr.thinking == "Let me see"
    assert b"Let me see" not in body
    assert tr.text == "Answer"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks_of(body)) == "Answer"
