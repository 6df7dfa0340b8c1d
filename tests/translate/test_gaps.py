"""The fields the two dialects spell differently: thinking/effort, structured output, dropped ones."""

from __future__ import annotations

import msgspec
import pytest

from gateway.dialects import RequestValidationError
from gateway.dialects.anthropic_types import parse_anthropic_request
from gateway.dialects.openai_types import parse_openai_request
from gateway.translate.gaps import EFFORT_BUDGETS, effort_for_budget
from gateway.translate.requests import anthropic_request_to_openai, openai_request_to_anthropic

_enc = msgspec.json.Encoder()
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def to_anthropic(body: dict[str, object]) -> dict[str, object]:
    raw, req = parse_openai_request(_enc.encode(body))
    return openai_request_to_anthropic(req, raw, upstream_model="claude-x")


def to_openai(body: dict[str, object]) -> dict[str, object]:
    raw, req = parse_anthropic_request(_enc.encode(body))
    return anthropic_request_to_openai(req, raw, upstream_model="gpt-x")


USER = [{"role": "user", "content": "hi"}]


def test_reasoning_effort_becomes_a_thinking_budget_on_top_of_the_answer() -> None:
    out = to_anthropic(
        {"model": "m", "messages": USER, "reasoning_effort": "medium", "max_tokens": 500, "temperature": 0.2}
    )
    assert out["thinking"] == {"type": "enabled", "budget_tokens": EFFORT_BUDGETS["medium"]}
    assert out["max_tokens"] == 500 + EFFORT_BUDGETS["medium"]
    assert "temperature" not in out  # Anthropic refuses a temperature with thinking on
    assert "thinking" not in to_anthropic({"model": "m", "messages": USER, "reasoning_effort": "none"})
    with pytest.raises(RequestValidationError) as bad:
        to_anthropic({"model": "m", "messages": USER, "reasoning_effort": "extreme"})
    assert bad.value.param == "reasoning_effort"


def test_thinking_budget_becomes_the_nearest_effort() -> None:
    assert [effort_for_budget(b) for b in (1024, 2048, 6000, 8192, 12000, 16384, 64000)] == [
        "low",
        "low",
        "medium",
        "medium",
        "medium",
        "high",
        "high",
    ]
    body = {"model": "m", "max_tokens": 9000, "messages": USER, "thinking": {"type": "enabled", "budget_tokens": 8000}}
    assert to_openai(body)["reasoning_effort"] == "medium"
    body2 = {"model": "m", "max_tokens": 10, "messages": USER, "output_config": {"effort": "max"}}
    assert to_openai(body2)["reasoning_effort"] == "high"


def test_response_format_json_schema_is_anthropic_structured_output_and_back() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True}}
    out = to_anthropic({"model": "m", "messages": USER, "response_format": fmt})
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    back = to_openai({"model": "m", "max_tokens": 10, "messages": USER, "output_config": out["output_config"]})
    assert back["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": SCHEMA, "strict": True},
    }


def test_json_object_becomes_an_instruction_and_bad_formats_are_refused() -> None:
    out = to_anthropic(
        {
            "model": "m",
            "messages": [{"role": "system", "content": "S"}, *USER],
            "response_format": {"type": "json_object"},
        }
    )
    system = out["system"]
    assert isinstance(system, list) and system[0]["text"] == "S" and "JSON object" in system[-1]["text"]
    with pytest.raises(RequestValidationError) as bad:
        to_anthropic({"model": "m", "messages": USER, "response_format": {"type": "json_schema", "json_schema": {}}})
    assert bad.value.param == "response_format.json_schema.schema"
    with pytest.raises(RequestValidationError):
        to_anthropic({"model": "m", "messages": USER, "response_format": {"type": "yaml"}})


def test_stop_parallel_tool_calls_seed_and_n() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    out = to_anthropic(
        {"model": "m", "messages": USER, "stop": ["END", " "], "seed": 7, "tools": [tool], "parallel_tool_calls": False}
    )
    assert out["stop_sequences"] == ["END"]  # whitespace-only stops are refused by Anthropic, so dropped
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert "seed" not in out  # Anthropic has no seed: dropped, as the README says
    with pytest.raises(RequestValidationError) as n:
        to_anthropic({"model": "m", "messages": USER, "n": 2})
    assert n.value.param == "n"
    back = to_openai(
        {
            "model": "m",
            "max_tokens": 10,
            "messages": USER,
            "stop_sequences": ["END"],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        }
    )
    assert back["stop"] == ["END"] and back["parallel_tool_calls"] is False
