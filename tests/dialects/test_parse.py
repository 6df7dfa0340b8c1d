"""Request validation: what is accepted, and errors that name the field to fix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.dialects import (
    RequestValidationError,
    anthropic_error_body,
    anthropic_error_type_for_status,
    openai_error_body,
    upstream_error_message,
)
from gateway.dialects.anthropic_types import parse_anthropic_request
from gateway.dialects.openai_types import parse_openai_request


def openai_error(body: Any) -> RequestValidationError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(RequestValidationError) as info:
        parse_openai_request(raw)
    return info.value


def anthropic_error(body: Any) -> RequestValidationError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(RequestValidationError) as info:
        parse_anthropic_request(raw)
    return info.value


def test_openai_valid_request_keeps_unknown_fields_in_raw() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "seed": 3,
            "stream": True, "stream_options": {"include_usage": True}, "logit_bias": {"1": 2}}  # fmt: skip
    raw, req = parse_openai_request(json.dumps(body).encode())
    assert raw == body
    assert req.model == "gpt-4o"
    assert req.stream is True
    assert req.include_usage is True
    assert req.messages[0].content == "hi"


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model", "required field is missing"),
        ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, "model", "expected a string, got an integer"),
        ({"model": "m"}, "messages", "required field is missing"),
        ({"model": "m", "messages": []}, "messages", "at least one"),
        ({"model": "m", "messages": "hi"}, "messages", "expected an array, got a string"),
        ({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                                     {"role": "bot", "content": "c"}]},
         "messages[2].role", "expected one of system, developer, user, assistant, tool; got 'bot'"),
        ({"model": "m", "messages": [{"role": "tool", "content": "r"}]}, "messages[0].tool_call_id", "required"),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages[0].content", "required"),
        ({"model": "m", "messages": [{"role": "user", "content": [{"text": "x"}]}]},
         "messages[0].content[0].type", "required field is missing"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": "9"},
         "max_tokens", "expected an integer or null, got a string"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens", "at least 1"),
    ],
)  # fmt: skip
def test_openai_errors_name_the_field(body: dict[str, Any], param: str, words: str) -> None:
    err = openai_error(body)
    assert err.param == param
    assert err.message.startswith(f"{param}: ")
    assert words in err.message


@pytest.mark.parametrize(("body", "words"), [(b"{nope", "not valid JSON"), (b"[1, 2]", "must be a JSON object")])
def test_body_level_errors(body: bytes, words: str) -> None:
    for err in (openai_error(body), anthropic_error(body)):
        assert err.param is None
        assert words in err.message


def test_anthropic_valid_request() -> None:
    body = {"model": "claude", "max_tokens": 10, "system": [{"type": "text", "text": "s"}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                                      {"type": "web_fetch_future_block", "x": 1}]}],
            "thinking": {"type": "enabled", "budget_tokens": 1024}}  # fmt: skip
    raw, req = parse_anthropic_request(json.dumps(body).encode())
    assert raw["thinking"] == {"type": "enabled", "budget_tokens": 1024}  # passes through untyped
    assert req.max_tokens == 10
    assert isinstance(req.messages[0].content, list)
    assert req.messages[0].content[1].type == "web_fetch_future_block"  # unknown blocks are not refused


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens", "required field is missing"),
        ({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}, "max_tokens", "at least 1"),
        ({"model": "m", "max_tokens": 1.5, "messages": [{"role": "user", "content": "x"}]},
         "max_tokens", "expected an integer, got a number"),
        ({"model": "m", "max_tokens": 5, "messages": []}, "messages", "at least one"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
         "messages[0].role", "expected one of user, assistant; got 'system'"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
          "tool_choice": {"type": "tool"}}, "tool_choice.name", "required"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
          "tool_choice": {"type": "maybe"}}, "tool_choice.type", "expected one of auto, any, tool, none"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
         "messages[0].content[0].text", "expected a string or null, got an integer"),
    ],
)  # fmt: skip
def test_anthropic_errors_name_the_field(body: dict[str, Any], param: str, words: str) -> None:
    err = anthropic_error(body)
    assert err.param == param
    assert err.message.startswith(f"{param}: ")
    assert words in err.message


def test_error_bodies() -> None:
    assert openai_error_body("bad", "invalid_request_error", "model_not_found") == {
        "error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": "model_not_found"}
    }
    assert anthropic_error_body("not_found_error", "no such model") == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "no such model"},
    }
    assert anthropic_error_type_for_status(429) == "rate_limit_error"
    assert anthropic_error_type_for_status(503) == "api_error"
    assert anthropic_error_type_for_status(422) == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "Overloaded"),
        (b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}',
         "Rate limit reached"),
        (b'{"error": "model not loaded"}', "model not loaded"),
        (b'{"detail": "Not Found"}', "Not Found"),
        (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        (b"", "upstream returned an empty error body"),
    ],
)  # fmt: skip
def test_upstream_error_message(body: bytes, message: str) -> None:
    assert upstream_error_message(body) == message
