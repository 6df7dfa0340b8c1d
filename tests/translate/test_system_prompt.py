"""The gateway's system prompt goes first, as its own stable unit, in either dialect."""

from __future__ import annotations

import json
from typing import Any

from gateway.dialects.anthropic_types import parse_anthropic_request
from gateway.dialects.openai_types import parse_openai_request
from gateway.translate.system_prompt import prepend_system_anthropic, prepend_system_openai

ORG = "Company policy: never share secrets."


def test_openai_prefix_is_a_separate_leading_message() -> None:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "system", "content": "Client sys"},
                                                       {"role": "user", "content": "hi"}]}  # fmt: skip
    prepend_system_openai(body, ORG)
    assert body["messages"][0] == {"role": "system", "content": ORG}
    assert body["messages"][1:] == [{"role": "system", "content": "Client sys"}, {"role": "user", "content": "hi"}]
    parse_openai_request(json.dumps(body).encode())


def test_anthropic_string_system_becomes_second_block() -> None:
    body: dict[str, Any] = {"system": "Client sys", "messages": []}
    prepend_system_anthropic(body, ORG)
    assert body["system"] == [{"type": "text", "text": ORG}, {"type": "text", "text": "Client sys"}]


def test_anthropic_blocks_keep_cache_control_and_prefix_is_stable() -> None:
    client_blocks = [{"type": "text", "text": "Long doc", "cache_control": {"type": "ephemeral"}}]
    first: dict[str, Any] = {"model": "m", "max_tokens": 1, "system": list(client_blocks),
                             "messages": [{"role": "user", "content": "a"}]}  # fmt: skip
    second: dict[str, Any] = {"model": "m", "max_tokens": 1, "system": "Other",
                              "messages": [{"role": "user", "content": "b"}]}  # fmt: skip
    prepend_system_anthropic(first, ORG)
    prepend_system_anthropic(second, ORG)
    assert first["system"][0] == second["system"][0] == {"type": "text", "text": ORG}
    assert first["system"][1:] == client_blocks
    _, req = parse_anthropic_request(json.dumps(first).encode())
    assert isinstance(req.system, list)
    assert req.system[1].cache_control == {"type": "ephemeral"}


def test_no_client_system_and_empty_prefix() -> None:
    body: dict[str, Any] = {"messages": []}
    prepend_system_anthropic(body, ORG)
    assert body["system"] == [{"type": "text", "text": ORG}]
    untouched: dict[str, Any] = {"system": "x", "messages": [{"role": "user", "content": "y"}]}
    prepend_system_anthropic(untouched, "")
    prepend_system_openai(untouched, "")
    assert untouched == {"system": "x", "messages": [{"role": "user", "content": "y"}]}
