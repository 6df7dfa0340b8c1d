"""Responses API requests as Chat Completions bodies, and completions back as responses/events."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gateway.dialects import RequestValidationError
from gateway.dialects.sse import SSEParser
from gateway.translate.responses_output import ResponsesStream, chat_to_response, output_text, response_shell
from gateway.translate.responses_request import responses_to_chat
from tests.support.mock_upstream import openai_completion

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}


def test_text_input_instructions_and_options() -> None:
    body = responses_to_chat(
        {
            "model": "gpt-x",
            "instructions": "Be brief.",
            "input": "hi",
            "max_output_tokens": 50,
            "temperature": 0.3,
            "reasoning": {"effort": "low"},
            "text": {"format": {"type": "json_schema", "name": "out", "schema": SCHEMA, "strict": True}},
            "stream": True,
            "store": False,
        }
    )
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert body["max_completion_tokens"] == 50 and body["temperature"] == 0.3
    assert body["reasoning_effort"] == "low"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": SCHEMA, "strict": True},
    }
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "store" not in body


def test_items_tools_and_function_call_outputs() -> None:
    items: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": '{"city":"Lyon"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "rain"}]},
    ]
    tool = {"type": "function", "name": "get_weather", "description": "d", "parameters": SCHEMA, "strict": False}
    body = responses_to_chat(
        {"model": "m", "input": items, "tools": [tool], "tool_choice": {"type": "function", "name": "get_weather"}}
    )
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Lyon"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": SCHEMA, "description": "d", "strict": False},
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_history_goes_first_and_images_stay_parts() -> None:
    history: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": "earlier"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
    ]
    body = responses_to_chat(
        {
            "model": "m",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": "https://x/y.png"},
                    ],
                }
            ],
        },
        history,
    )
    assert body["messages"][:2] == [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "ok"}]
    assert body["messages"][2]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
    ]


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0].file_data",
        ),
        ({"model": "m", "input": "x", "text": {"format": {"type": "json_schema"}}}, "text.format.schema"),
        ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "m", "instructions": "only this"}, "input"),
    ],
)
def test_refusals_name_the_field(raw: dict[str, Any], param: str) -> None:
    with pytest.raises(RequestValidationError) as refused:
        responses_to_chat(raw)
    assert refused.value.param == param


def test_completion_becomes_a_response_object() -> None:
    shell = response_shell({"model": "m", "instructions": "I", "store": True}, "resp_1", "gpt-x", 123)
    text = chat_to_response(openai_completion("Hi there", "gpt-x", 16, 7, 5), shell)
    assert (text["id"], text["object"], text["status"], text["model"]) == ("resp_1", "response", "completed", "gpt-x")
    assert output_text(text) == "Hi there"
    assert text["usage"] == {
        "input_tokens": 16,
        "input_tokens_details": {"cached_tokens": 5},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 23,
    }
    calls = [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}]
    tool = chat_to_response(openai_completion("", "gpt-x", 1, 1, tool_calls=calls), shell)
    assert [(o["type"], o["call_id"], o["name"], o["arguments"]) for o in tool["output"]] == [
        ("function_call", "call_9", "f", '{"x":1}')
    ]
    cut = openai_completion("Hi", "gpt-x", 1, 1)
    cut["choices"][0]["finish_reason"] = "length"
    assert chat_to_response(cut, shell)["incomplete_details"] == {"reason": "max_output_tokens"}


def _events(frames: bytes) -> list[dict[str, Any]]:
    return [msgspec.json.decode(e.data) | {"_event": e.event} for e in SSEParser().feed(frames)]


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        chunk["usage"] = usage
    return chunk


def test_stream_events_text_then_tool_call_then_completed() -> None:
    s = ResponsesStream(response_shell({"model": "m"}, "resp_2", "gpt-x", 1))
    frames = s.start()
    frames += s.feed(_chunk({"role": "assistant", "content": ""}))
    frames += s.feed(_chunk({"content": "Let me"}))
    frames += s.feed(_chunk({"content": " check."}))
    frames += s.feed(_chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]}))
    frames += s.feed(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}))
    frames += s.feed(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}, "tool_calls"))
    frames += s.feed({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
    frames += s.finish()
    events = _events(frames)
    assert all(e["_event"] == e["type"] for e in events)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[6]["text"] == "Let me check."
    assert events[12]["arguments"] == '{"x":1}'
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert [o["type"] for o in done["output"]] == ["message", "function_call"]
    assert done["usage"]["input_tokens"] == 9 and done["usage"]["output_tokens"] == 4


def test_stream_error_ends_with_response_failed() -> None:
    s = ResponsesStream(response_shell({"model": "m"}, "resp_3", "gpt-x", 1))
    s.start()
    s.feed(_chunk({"content": "partial"}))
    events = _events(s.error("the provider broke mid-stream", "upstream_unavailable"))
    assert [e["type"] for e in events] == ["error", "response.failed"]
    assert events[0]["message"] == "the provider broke mid-stream"
    assert events[1]["response"]["status"] == "failed"
