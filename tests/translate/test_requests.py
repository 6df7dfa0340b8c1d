"""Request translation both ways: system, turns, images, tools, results, sampling fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.dialects import RequestValidationError
from gateway.dialects.anthropic_types import parse_anthropic_request
from gateway.dialects.openai_types import parse_openai_request
from gateway.translate.requests import (
    anthropic_request_to_openai,
    conversation_text_for_router,
    last_user_text,
    openai_request_to_anthropic,
)

PNG = "iVBORw0KGgo="


def to_anthropic(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    raw, req = parse_openai_request(json.dumps(body).encode())
    out = openai_request_to_anthropic(req, raw, upstream_model="claude-up", **kw)
    parse_anthropic_request(json.dumps(out).encode())  # the result is itself a valid Messages body
    return out


def to_openai(body: dict[str, Any]) -> dict[str, Any]:
    raw, req = parse_anthropic_request(json.dumps(body).encode())
    out = anthropic_request_to_openai(req, raw, upstream_model="gpt-up")
    parse_openai_request(json.dumps(out).encode())  # the result is itself a valid Chat Completions body
    return out


OPENAI_TOOL_CONVERSATION: dict[str, Any] = {
    "model": "claude-alias",
    "messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
        {"role": "user", "content": [
            {"type": "text", "text": "Weather here and there?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg", "detail": "high"}},
        ]},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "wx", "arguments": '{"city": "Oslo"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "wx", "arguments": '{"city": "Rome"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "5C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "25C"}]},
        {"role": "user", "content": "Thanks"},
    ],
    "tools": [{"type": "function", "function": {"name": "wx", "description": "Weather",
                                                "parameters": {"type": "object",
                                                               "properties": {"city": {"type": "string"}}}}}],
    "tool_choice": "required",
    "parallel_tool_calls": False,
    "max_completion_tokens": 300,
    "temperature": 1.6,
    "top_p": 0.9,
    "stop": ["END", "\n"],
    "stream": True,
    "stream_options": {"include_usage": True},
    "user": "u-42",
}  # fmt: skip


def test_openai_conversation_to_anthropic() -> None:
    out = to_anthropic(OPENAI_TOOL_CONVERSATION)
    assert out["model"] == "claude-up"
    assert out["system"] == [{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Use metric."}]
    assert out["messages"] == [
        {"role": "user", "content": [
            {"type": "text", "text": "Weather here and there?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        ]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_1", "name": "wx", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "call_2", "name": "wx", "input": {"city": "Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "5C"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "25C"},
            {"type": "text", "text": "Thanks"},
        ]},
    ]  # fmt: skip
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    assert out["tools"] == [{"name": "wx", "description": "Weather", "input_schema": schema}]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["max_tokens"] == 300
    assert out["temperature"] == 1.0  # clamped to Anthropic's range
    assert out["top_p"] == 0.9
    assert out["stop_sequences"] == ["END"]  # whitespace-only sequences are refused by Anthropic
    assert out["stream"] is True
    assert "stream_options" not in out
    assert out["metadata"] == {"user_id": "u-42"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"max_tokens": 77}, 77),
        ({"max_tokens": 77, "max_completion_tokens": 88}, 88),
        ({}, 4096),
    ],
)
def test_max_tokens_mapping(fields: dict[str, Any], expected: int) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    assert to_anthropic(body)["max_tokens"] == expected


def test_default_max_tokens_applies_only_when_client_sets_none() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert to_anthropic(body, default_max_tokens=9)["max_tokens"] == 9
    assert to_anthropic({**body, "max_tokens": 3}, default_max_tokens=9)["max_tokens"] == 3


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ({"type": "function", "function": {"name": "wx"}}, {"type": "tool", "name": "wx"}),
    ],
)
def test_tool_choice_to_anthropic(choice: Any, expected: dict[str, Any]) -> None:
    body = {**OPENAI_TOOL_CONVERSATION, "tool_choice": choice}
    del body["parallel_tool_calls"]
    assert to_anthropic(body)["tool_choice"] == expected


def test_string_stop_and_plain_text() -> None:
    out = to_anthropic({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": "###"})
    assert out["stop_sequences"] == ["###"]
    assert out["messages"] == [{"role": "user", "content": "hi"}]
    assert "system" not in out
    assert "tools" not in out


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"n": 2}, "n"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]},
         "messages[0].content[0].image_url.url"),
        ({"messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]},
         "messages[0].tool_calls[0].function.arguments"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
    ],
)  # fmt: skip
def test_untranslatable_openai_fields_are_refused(patch: dict[str, Any], param: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **patch}
    with pytest.raises(RequestValidationError) as info:
        to_anthropic(body)
    assert info.value.param == param
    assert info.value.message.startswith(param + ": ")


ANTHROPIC_TOOL_CONVERSATION: dict[str, Any] = {
    "model": "gpt-alias",
    "max_tokens": 512,
    "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}},
               {"type": "text", "text": "Use metric."}],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "Weather?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/b.png"}},
        ]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "need tool", "signature": "s"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "wx", "input": {"city": "Oslo"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "text", "text": "5C"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/map.png"}},
            ]},
            {"type": "text", "text": "And tomorrow?"},
        ]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_2", "name": "wx", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "unavailable", "is_error": True},
        ]},
    ],
    "tools": [{"name": "wx", "description": "Weather", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    "temperature": 0.3,
    "top_p": 0.8,
    "top_k": 40,
    "stop_sequences": ["END"],
    "stream": True,
    "metadata": {"user_id": "u-7"},
}  # fmt: skip


def test_anthropic_conversation_to_openai() -> None:
    out = to_openai(ANTHROPIC_TOOL_CONVERSATION)
    assert out["model"] == "gpt-up"
    assert out["messages"] == [
        {"role": "system", "content": "Be terse.\n\nUse metric."},
        {"role": "user", "content": [
            {"type": "text", "text": "Weather?"},
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PNG}"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}},
        ]},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "wx", "arguments": '{"city":"Oslo"}'}},
        ]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "5C"},
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/map.png"}},
            {"type": "text", "text": "And tomorrow?"},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_2", "type": "function", "function": {"name": "wx", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: unavailable"},
    ]  # fmt: skip
    assert out["tools"] == [
        {"type": "function", "function": {"name": "wx", "parameters": {"type": "object"}, "description": "Weather"}}
    ]
    assert out["tool_choice"] == "required"
    assert out["parallel_tool_calls"] is False
    assert out["max_completion_tokens"] == 512
    assert (out["temperature"], out["top_p"], out["stop"]) == (0.3, 0.8, ["END"])
    assert "top_k" not in out
    assert out["stream_options"] == {"include_usage": True}
    assert out["user"] == "u-7"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [({"type": "auto"}, "auto"), ({"type": "none"}, "none"),
     ({"type": "tool", "name": "wx"}, {"type": "function", "function": {"name": "wx"}})],
)  # fmt: skip
def test_tool_choice_to_openai(choice: dict[str, Any], expected: Any) -> None:
    out = to_openai({**ANTHROPIC_TOOL_CONVERSATION, "tool_choice": choice})
    assert out["tool_choice"] == expected
    assert "parallel_tool_calls" not in out


def test_plain_anthropic_request() -> None:
    out = to_openai({"model": "m", "max_tokens": 5, "system": "Sys", "messages": [{"role": "user", "content": "hi"}]})
    assert out == {
        "model": "gpt-up",
        "messages": [{"role": "system", "content": "Sys"}, {"role": "user", "content": "hi"}],
        "max_completion_tokens": 5,
    }


def test_round_trip_openai_anthropic_openai_keeps_conversation() -> None:
    there = to_anthropic(OPENAI_TOOL_CONVERSATION)
    back = to_openai({**there, "model": "x"})
    roles = [m["role"] for m in back["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "user"]
    calls = back["messages"][2]["tool_calls"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Oslo"}, {"city": "Rome"}]
    assert back["messages"][4] == {"role": "tool", "tool_call_id": "call_2", "content": "25C"}
    assert back["messages"][5] == {"role": "user", "content": "Thanks"}
    assert back["stop"] == ["END"]
    assert back["tool_choice"] == "required"
    assert back["parallel_tool_calls"] is False


def test_server_tools_refused_for_openai() -> None:
    body = {**ANTHROPIC_TOOL_CONVERSATION, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}
    with pytest.raises(RequestValidationError) as info:
        to_openai(body)
    assert info.value.param == "tools[0].type"


def test_router_views() -> None:
    _, oreq = parse_openai_request(json.dumps(OPENAI_TOOL_CONVERSATION).encode())
    turns, n_tools, n_att = conversation_text_for_router(oreq)
    assert turns[0] == ("system", "Be terse.")
    assert turns[1] == ("system", "Use metric.")
    assert turns[2] == ("user", "Weather here and there?")
    assert turns[-1] == ("user", "Thanks")
    assert (n_tools, n_att) == (1, 2)
    assert last_user_text(oreq) == "Thanks"
    _, areq = parse_anthropic_request(json.dumps(ANTHROPIC_TOOL_CONVERSATION).encode())
    turns, n_tools, n_att = conversation_text_for_router(areq)
    assert turns[0] == ("system", "Be terse.\n\nUse metric.")
    assert turns[1] == ("user", "Weather?")
    assert turns[3] == ("user", "5C\nAnd tomorrow?")
    assert (n_tools, n_att) == (1, 3)
    assert last_user_text(areq) == ""  # the last user turn only carries a tool result
    _, simple = parse_anthropic_request(
        b'{"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "yo"}]}'
    )
    assert last_user_text(simple) == "yo"
