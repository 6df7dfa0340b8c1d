"""Calling the arena on the running gateway, and reading its event stream."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from tests.support.mock_upstream import anthropic_message


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def post(url: str, key: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(url + path, headers=auth(key), json=body if body is not None else {}, timeout=30)


def get(url: str, key: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(url + path, headers=auth(key), params=params, timeout=30)


def stream_battle(url: str, key: str, body: dict[str, Any]) -> tuple[httpx.Response, list[tuple[str, Any]], str]:
    """POST a streamed battle; returns the response, its ``(event, data)`` pairs and the raw text."""
    with httpx.stream("POST", url + "/v1/arena/battles", headers=auth(key), json=body, timeout=30) as resp:
        raw = "".join(resp.iter_text())
    events: list[tuple[str, Any]] = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        events.append((name, data if data == "[DONE]" else msgspec.json.decode(data)))
    return resp, events, raw


def judge_answer(winner: str, reason: str = "It answers the question directly.") -> dict[str, Any]:
    """What a scripted Anthropic judge replies."""
    text = msgspec.json.encode({"winner": winner, "reason": reason}).decode()
    usage = {"input_tokens": 120, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    return anthropic_message(text, "claude-opus-5", usage)
