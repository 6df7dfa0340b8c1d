"""Same-dialect observers: the bytes go to the client untouched; the gateway learns usage/text."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from openai.types.chat import ChatCompletion

from gateway.translate.responses import observe_anthropic_response, observe_openai_response
from gateway.translate.streams import AnthropicStreamObserver, OpenAIStreamObserver
from tests.translate.fixtures import (
    OPENAI_USAGE,
    a_event,
    a_text_stream,
    anthropic_sdk,
    o_text_stream,
    openai_sdk,
    parse_all,
    split_randomly,
)


def relay_openai(upstream: bytes, include_usage: bool) -> tuple[OpenAIStreamObserver, bytes]:
    """What the gateway relays: the raw frames of each event the observer lets through."""
    obs = OpenAIStreamObserver(include_usage)
    kept = [b"data: " + ev.data + b"\n\n" for ev in parse_all(split_randomly(upstream, 3)) if obs.observe(ev)]
    return obs, b"".join(kept)


def test_openai_usage_chunk_withheld_when_client_did_not_ask() -> None:
    obs, relayed = relay_openai(o_text_stream(["Hi", " there"]), include_usage=False)
    assert obs.usage == OPENAI_USAGE  # the gateway still learns it
    assert obs.text == "Hi there"
    assert obs.finish_reason == "stop"
    assert b'"prompt_tokens"' not in relayed
    chunks = list(openai_sdk(relayed).chat.completions.create(model="m", messages=[], stream=True))
    assert all(c.choices for c in chunks)


def test_openai_usage_chunk_kept_when_client_asked() -> None:
    obs, relayed = relay_openai(o_text_stream(["Hi"]), include_usage=True)
    chunks = list(openai_sdk(relayed).chat.completions.create(model="m", messages=[], stream=True))
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 1200
    assert obs.error is None


def test_openai_observer_records_error() -> None:
    obs = OpenAIStreamObserver(False)
    (ev,) = parse_all([b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n'])
    assert obs.observe(ev) is True
    assert obs.error == "boom"


def test_anthropic_observer_merges_start_and_delta_usage() -> None:
    obs = AnthropicStreamObserver()
    events = parse_all(split_randomly(a_text_stream(["A", "B"], output_tokens=40), 11))
    assert all(obs.observe(ev) for ev in events)
    assert obs.text == "AB"
    assert obs.finish_reason == "end_turn"
    assert obs.usage == {
        "input_tokens": 21,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 4000,
        "output_tokens": 40,
        "service_tier": "standard",
    }


def test_anthropic_observer_records_error_and_sdk_raises_on_relay() -> None:
    body = a_event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    obs = AnthropicStreamObserver()
    assert all(obs.observe(ev) for ev in parse_all([body]))
    assert obs.error == "Overloaded"
    client = anthropic_sdk(body)

    def consume() -> None:
        with client.messages.stream(model="m", max_tokens=1, messages=[]) as s:
            s.get_final_message()

    with pytest.raises(anthropic.APIError, match="Overloaded"):
        consume()


def test_observe_responses_from_bytes_and_dicts() -> None:
    completion: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "length", "logprobs": None,
                     "message": {"role": "assistant", "content": "Hello", "refusal": None}}],
        "usage": OPENAI_USAGE,
    }  # fmt: skip
    ChatCompletion.model_validate(completion)
    for body in (completion, json.dumps(completion).encode()):  # the relay has bytes, tests may have dicts
        s = observe_openai_response(body)
        assert (s.text, s.finish_reason, s.usage) == ("Hello", "length", OPENAI_USAGE)
    message: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Yes"},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }
    anthropic.types.Message.model_validate(message)
    for body in (message, json.dumps(message).encode()):
        s = observe_anthropic_response(body)
        assert (s.text, s.thinking, s.finish_reason) == ("Yes", "hmm", "end_turn")
        assert s.usage == {"input_tokens": 5, "output_tokens": 2}
