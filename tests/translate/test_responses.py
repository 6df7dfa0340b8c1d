"""Non-streamed replies translated both ways, parsed by the official SDKs."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from openai.types.chat import ChatCompletion

from gateway.translate.responses import anthropic_response_to_openai, openai_response_to_anthropic
from tests.translate.fixtures import OPENAI_USAGE, anthropic_sdk, openai_sdk

CLAUDE_REPLY: dict[str, Any] = {
    "id": "msg_01X",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "plan", "signature": "sig"},
        {"type": "text", "text": "I'll look."},
        {"type": "tool_use", "id": "toolu_9", "name": "search", "input": {"q": "llm", "n": 3}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 50, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 20,
              "output_tokens": 70},
}  # fmt: skip

GPT_REPLY: dict[str, Any] = {
    "id": "chatcmpl-9",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-2024-08-06",
    "choices": [{
        "index": 0,
        "logprobs": None,
        "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": "Calling.", "refusal": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": '{"q": "x"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "bad", "arguments": "{oops"}},
        ]},
    }],
    "usage": OPENAI_USAGE,
}  # fmt: skip


def test_anthropic_reply_as_chat_completion() -> None:
    body = anthropic_response_to_openai(CLAUDE_REPLY, model="claude-alias", created=5)
    via_sdk = openai_sdk(json.dumps(body).encode(), stream=False).chat.completions.create(model="m", messages=[])
    for c in (ChatCompletion.model_validate(body), via_sdk):
        assert c.model == "claude-alias"
        assert c.created == 5
        choice = c.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content == "I'll look."
        assert choice.message.tool_calls is not None
        call = choice.message.tool_calls[0]
        assert call.id == "toolu_9"
        assert call.function.name == "search"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"q": "llm", "n": 3}  # type: ignore[union-attr]
        assert c.usage is not None
        assert c.usage.prompt_tokens == 1070
        assert c.usage.completion_tokens == 70
        assert c.usage.total_tokens == 1140
        assert c.usage.prompt_tokens_details is not None
        assert c.usage.prompt_tokens_details.cached_tokens == 1000


@pytest.mark.parametrize(
    ("stop", "finish"),
    [("end_turn", "stop"), ("max_tokens", "length"), ("stop_sequence", "stop"), ("pause_turn", "stop")],
)
def test_anthropic_stop_reasons(stop: str, finish: str) -> None:
    reply = {**CLAUDE_REPLY, "stop_reason": stop, "content": [{"type": "text", "text": "t"}]}
    c = ChatCompletion.model_validate(anthropic_response_to_openai(reply, model="m"))
    assert c.choices[0].finish_reason == finish
    assert c.choices[0].message.tool_calls is None


def test_openai_reply_as_anthropic_message() -> None:
    body = openai_response_to_anthropic(GPT_REPLY, model="gpt-alias", message_id="msg_gw")
    client = anthropic_sdk(json.dumps(body).encode(), stream=False)
    via_sdk = client.messages.create(model="m", max_tokens=5, messages=[])
    for m in (anthropic.types.Message.model_validate(body), via_sdk):
        assert m.id == "msg_gw"
        assert m.model == "gpt-alias"
        assert m.stop_reason == "tool_use"
        assert [b.type for b in m.content] == ["text", "tool_use", "tool_use"]
        assert m.content[0].text == "Calling."  # type: ignore[union-attr]
        assert m.content[1].input == {"q": "x"}  # type: ignore[union-attr]
        assert m.content[2].input == {"_raw_arguments": "{oops"}  # type: ignore[union-attr]
        assert m.usage.input_tokens == 1200 - 1024
        assert m.usage.cache_read_input_tokens == 1024
        assert m.usage.output_tokens == 9


@pytest.mark.parametrize(("finish", "stop"), [("stop", "end_turn"), ("length", "max_tokens")])
def test_openai_finish_reasons(finish: str, stop: str) -> None:
    reply = {**GPT_REPLY, "choices": [{"index": 0, "finish_reason": finish,
                                       "message": {"role": "assistant", "content": "hi"}}]}  # fmt: skip
    m = anthropic.types.Message.model_validate(openai_response_to_anthropic(reply, model="m"))
    assert m.stop_reason == stop
    assert [b.type for b in m.content] == ["text"]


def test_round_trip_keeps_text_and_tool_input() -> None:
    as_openai = anthropic_response_to_openai(CLAUDE_REPLY, model="m")
    back = anthropic.types.Message.model_validate(openai_response_to_anthropic(as_openai, model="m"))
    texts = [b.text for b in back.content if b.type == "text"]
    inputs = [b.input for b in back.content if b.type == "tool_use"]
    assert texts == ["I'll look."]
    assert inputs == [{"q": "llm", "n": 3}]
    assert back.stop_reason == "tool_use"
    # The OpenAI dialect has no cache-write count: writes travel as uncached prompt tokens
    # (as OpenAI would bill them), cache reads as cached_tokens. Total input is preserved.
    assert back.usage.input_tokens == 50 + 20
    assert back.usage.cache_creation_input_tokens == 0
    assert back.usage.cache_read_input_tokens == 1000
