"""OpenAI upstream stream -> Anthropic client stream, read back by the official anthropic SDK."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pydantic
import pytest
from anthropic.types import RawMessageStreamEvent

from gateway.dialects.sse import SSEParser
from gateway.translate.streams import OpenAIToAnthropicStream
from tests.translate.fixtures import (
    O_DONE,
    anthropic_sdk,
    o_delta,
    o_text_stream,
    o_tool_stream,
    parse_all,
    split_randomly,
)

EVENTS = pydantic.TypeAdapter(RawMessageStreamEvent)


def translate(upstream: bytes, seed: int = 0) -> tuple[OpenAIToAnthropicStream, bytes]:
    tr = OpenAIToAnthropicStream("gpt-via-anthropic", "msg_gw1")
    out: list[bytes] = []
    for ev in parse_all(split_randomly(upstream, seed)):
        out += tr.feed(ev)
    out += tr.finish()
    return tr, b"".join(out)


def events_of(body: bytes) -> list[Any]:
    """Every frame validated by the SDK's own event union; the ``event:`` name must match."""
    out = []
    for ev in SSEParser().feed(body):
        data = json.loads(ev.data)
        assert ev.event == data["type"]
        out.append(EVENTS.validate_python(data))
    return out


def final_message(body: bytes) -> anthropic.types.Message:
    client = anthropic_sdk(body)
    with client.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as s:
        return s.get_final_message()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_text_reply_parses_in_sdk(seed: int) -> None:
    tr, body = translate(o_text_stream(["Bon", "jour", " à ", "vous 😀"]), seed)
    events = events_of(body)
    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0].message.id == "msg_gw1"
    assert events[0].message.model == "gpt-via-anthropic"
    msg = final_message(body)
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "Bonjour à vous 😀"  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 1200 - 1024
    assert msg.usage.cache_read_input_tokens == 1024
    assert msg.usage.output_tokens == 9
    assert tr.text == "Bonjour à vous 😀"
    assert tr.finish_reason == "stop"
    assert tr.usage is not None
    assert tr.usage["prompt_tokens"] == 1200


@pytest.mark.parametrize("seed", [0, 7])
def test_parallel_tool_calls_stream_as_tool_use_blocks(seed: int) -> None:
    upstream = o_tool_stream([
        ("call_A", "get_weather", ['{"city"', ': "Paris"}']),
        ("call_B", "get_time", ["{", '"tz": "CET"', "}"]),
    ])  # fmt: skip
    tr, body = translate(upstream, seed)
    events = events_of(body)
    deltas = [e.delta.partial_json for e in events if e.type == "content_block_delta"]
    assert deltas == ['{"city"', ': "Paris"}', "{", '"tz": "CET"', "}"]
    starts = [e for e in events if e.type == "content_block_start"]
    assert [(s.index, s.content_block.id, s.content_block.name) for s in starts] == [
        (0, "call_A", "get_weather"),
        (1, "call_B", "get_time"),
    ]
    msg = final_message(body)
    inputs = [(b.name, b.input) for b in msg.content if b.type == "tool_use"]
    assert inputs == [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]
    assert msg.stop_reason == "tool_use"
    assert tr.finish_reason == "tool_calls"


def test_text_then_tool_call_closes_text_block_first() -> None:
    upstream = b"".join([
        o_delta({"role": "assistant", "content": "Let me check."}),
        o_delta({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                 "function": {"name": "lookup", "arguments": '{"q": 1}'}}]}),
        o_delta({}, "tool_calls"),
        O_DONE,
    ])  # fmt: skip
    _, body = translate(upstream)
    kinds = [(e.type, getattr(e, "index", None)) for e in events_of(body)]
    assert kinds.index(("content_block_stop", 0)) < kinds.index(("content_block_start", 1))
    msg = final_message(body)
    assert [b.type for b in msg.content] == ["text", "tool_use"]
    assert msg.content[1].input == {"q": 1}  # type: ignore[union-attr]
    assert msg.usage.output_tokens == 0  # no usage chunk upstream: zeros, not a crash


@pytest.mark.parametrize(("finish", "stop"), [("length", "max_tokens"), ("content_filter", "refusal")])
def test_stop_reasons(finish: str, stop: str) -> None:
    tr, body = translate(o_text_stream(["x"], finish=finish))
    assert final_message(body).stop_reason == stop
    assert tr.finish_reason == finish


def test_reasoning_content_becomes_thinking_block() -> None:
    upstream = b"".join([
        o_delta({"role": "assistant", "content": None, "reasoning_content": "Think"}),
        o_delta({"reasoning_content": "ing."}),
        o_delta({"content": "Done."}),
        o_delta({}, "stop"),
        O_DONE,
    ])  # fmt: skip
    tr, body = translate(upstream)
    msg = final_message(body)
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking == "Thinking."  # type: ignore[union-attr]
    assert tr.thinking == "Thinking."
    assert tr.text == "Done."


def test_error_mid_stream_becomes_anthropic_error_event() -> None:
    upstream = b'data: {"error": {"message": "The server had an error", "type": "server_error"}}\n\n'
    upstream = o_delta({"role": "assistant", "content": "par"}) + upstream
    tr, body = translate(upstream)
    assert tr.error == "The server had an error"
    last = SSEParser().feed(body)[-1]
    assert last.event == "error"
    assert json.loads(last.data) == {
        "type": "error",
        "error": {"type": "api_error", "message": "The server had an error"},
    }
    with pytest.raises(anthropic.APIError, match="The server had an error"):
        final_message(body)


def test_stream_cut_before_finish_ends_with_error_event() -> None:
    tr, body = translate(o_delta({"role": "assistant", "content": "half"}))
    assert tr.error is not None
    assert SSEParser().feed(body)[-1].event == "error"
    assert tr.finish() == []


def test_missing_done_still_closes_after_finish_reason() -> None:
    upstream = o_text_stream(["ok"]).replace(O_DONE, b"")
    tr, body = translate(upstream)
    assert tr.error is None
    assert final_message(body).usage.output_tokens == 9
