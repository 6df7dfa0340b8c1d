"""Upstream byte streams shaped like the real providers send them, and SDK clients that
read the gateway's output through a mock HTTP transport (the official parsing path)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from typing import Any

import anthropic
import httpx
import httpx2
import openai

from gateway.dialects.sse import SSEEvent, SSEParser


def a_event(kind: str, data: dict[str, Any], crlf: bool = False) -> bytes:
    """One Anthropic frame as the API sends it (``event:`` then ``data:``)."""
    nl = "\r\n" if crlf else "\n"
    return f"event: {kind}{nl}data: {json.dumps(data)}{nl}{nl}".encode()


def o_chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None, **extra: Any) -> bytes:
    """One OpenAI chunk frame (``data:`` only), with the fields OpenAI sends on each."""
    chunk = {
        "id": "chatcmpl-up1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_1",
        "choices": choices,
        "usage": usage,
        **extra,
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


def o_delta(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return o_chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])


O_DONE = b"data: [DONE]\n\n"


def a_start(usage: dict[str, Any]) -> bytes:
    message: dict[str, Any] = {
        "id": "msg_01Up",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return a_event("message_start", {"type": "message_start", "message": message})


def a_text_stream(pieces: Iterable[str], stop: str = "end_turn", output_tokens: int = 12) -> bytes:
    """A plain text reply with prompt-cache usage, a ping, and the usual framing."""
    out = [
        a_start(
            {
                "input_tokens": 21,
                "cache_creation_input_tokens": 300,
                "cache_read_input_tokens": 4000,
                "output_tokens": 1,
                "service_tier": "standard",
            }
        ),
        a_event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        a_event("ping", {"type": "ping"}),
    ]
    for p in pieces:
        delta = {"type": "text_delta", "text": p}
        out.append(a_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    out.append(a_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(
        a_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        )
    )
    out.append(a_event("message_stop", {"type": "message_stop"}))
    return b"".join(out)


def a_tool_stream(json_pieces: list[str]) -> bytes:
    """Text, then a thinking-free tool_use whose input arrives as partial JSON pieces."""
    out = [
        a_start({"input_tokens": 400, "output_tokens": 2}),
        a_event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        a_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}},
        ),
        a_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        a_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}},
            },
        ),
    ]
    for piece in json_pieces:
        delta = {"type": "input_json_delta", "partial_json": piece}
        out.append(a_event("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": delta}))
    out.append(a_event("content_block_stop", {"type": "content_block_stop", "index": 1}))
    out.append(
        a_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 57},
            },
        )
    )
    out.append(a_event("message_stop", {"type": "message_stop"}))
    return b"".join(out)


OPENAI_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 9,
    "total_tokens": 1209,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                  "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
}  # fmt: skip


def o_text_stream(pieces: Iterable[str], finish: str = "stop", usage: bool = True) -> bytes:
    out = [o_delta({"role": "assistant", "content": "", "refusal": None})]
    out += [o_delta({"content": p}) for p in pieces]
    out.append(o_delta({}, finish))
    if usage:
        out.append(o_chunk([], OPENAI_USAGE))
    out.append(O_DONE)
    return b"".join(out)


def o_tool_stream(calls: list[tuple[str, str, list[str]]]) -> bytes:
    """Tool calls (id, name, argument pieces), streamed one after another as OpenAI does."""
    out = [o_delta({"role": "assistant", "content": None, "refusal": None})]
    for i, (call_id, name, pieces) in enumerate(calls):
        first = {"index": i, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        out.append(o_delta({"tool_calls": [first]}))
        out += [o_delta({"tool_calls": [{"index": i, "function": {"arguments": p}}]}) for p in pieces]
    out.append(o_delta({}, "tool_calls"))
    out.append(o_chunk([], OPENAI_USAGE))
    out.append(O_DONE)
    return b"".join(out)


def split_randomly(data: bytes, seed: int) -> list[bytes]:
    """Cut ``data`` at arbitrary points (including inside CRLF pairs and JSON)."""
    rng = random.Random(seed)
    pieces, i = [], 0
    while i < len(data):
        n = rng.randint(1, 40)
        pieces.append(data[i : i + n])
        i += n
    return pieces


def parse_all(chunks: Iterable[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    events = [ev for c in chunks for ev in parser.feed(c)]
    return events + parser.close()


def openai_sdk(body: bytes, status: int = 200, stream: bool = True) -> openai.OpenAI:
    """An OpenAI SDK client whose every request is answered with ``body``."""
    ctype = "text/event-stream" if stream else "application/json"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": ctype})

    transport = httpx.MockTransport(handler)
    return openai.OpenAI(
        api_key="k",
        base_url="http://gw.test/v1",
        max_retries=0,
        http_client=httpx.Client(transport=transport),
    )


def anthropic_sdk(body: bytes, status: int = 200, stream: bool = True) -> anthropic.Anthropic:
    """An Anthropic SDK client whose every request is answered with ``body``."""
    ctype = "text/event-stream" if stream else "application/json"

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=body, headers={"content-type": ctype})

    transport = httpx2.MockTransport(handler)
    return anthropic.Anthropic(
        api_key="k", base_url="http://gw.test", max_retries=0, http_client=httpx2.Client(transport=transport)
    )
