"""Wire bytes of the mock upstream's responses, built once per model.

Kept apart from the server so the shapes (what a gateway parses: usage, cache fields,
``choices: []`` usage chunks, ``[DONE]``) are easy to read and check against the
providers' documentation.

A streamed body is a list of HTTP/1.1 chunks, one per pacing step: step 0 carries the
preamble (``message_start`` …) with the first content event, the last step carries the
last content event with the trailer (finish, usage, ``[DONE]`` / ``message_stop``) and the
terminating zero-length chunk. So ``events`` content events take ``events - 1`` intervals.
"""

from __future__ import annotations

from typing import Any

import msgspec

_PROMPT_TOKENS = 9
_CACHE_CREATION_TOKENS = 2
_CACHE_READ_TOKENS = 3
_CREATED = 1_700_000_000
_LAST_CHUNK = b"0\r\n\r\n"


class ResponseBodies(msgspec.Struct, frozen=True):
    """Every response the mock sends for one model, as bytes ready to write."""

    openai_json: bytes
    openai_sse: list[bytes]
    openai_sse_usage: list[bytes]
    anthropic_json: bytes
    anthropic_sse: list[bytes]


def _word(i: int) -> str:
    return f"tok{i} "


def _frame(steps: list[bytes]) -> list[bytes]:
    """Frame each pacing step as one chunk; the last one also ends the chunked body."""
    framed = [b"%x\r\n%s\r\n" % (len(s), s) for s in steps]
    framed[-1] += _LAST_CHUNK
    return framed


def _openai_usage(events: int) -> dict[str, Any]:
    return {
        "prompt_tokens": _PROMPT_TOKENS,
        "completion_tokens": events,
        "total_tokens": _PROMPT_TOKENS + events,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _openai(model: str, events: int, enc: msgspec.json.Encoder) -> tuple[bytes, list[bytes], list[bytes]]:
    base = {"id": "chatcmpl-bench", "created": _CREATED, "model": model}
    text = "".join(_word(i) for i in range(events))
    message = {"role": "assistant", "content": text}
    body = {
        **base,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": _openai_usage(events),
    }

    def sse(obj: object) -> bytes:
        return b"data: " + enc.encode(obj) + b"\n\n"

    def chunk(delta: dict[str, str], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return sse({**base, "object": "chat.completion.chunk", "choices": [choice]})

    steps = [chunk({"content": _word(i)}, None) for i in range(events)]
    steps[0] = chunk({"role": "assistant", "content": _word(0)}, None)
    finish = chunk({}, "stop")
    usage = sse({**base, "object": "chat.completion.chunk", "choices": [], "usage": _openai_usage(events)})
    done = b"data: [DONE]\n\n"
    plain = [*steps[:-1], steps[-1] + finish + done]
    with_usage = [*steps[:-1], steps[-1] + finish + usage + done]
    return enc.encode(body), _frame(plain), _frame(with_usage)


def _anthropic_usage(output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": _PROMPT_TOKENS,
        "cache_creation_input_tokens": _CACHE_CREATION_TOKENS,
        "cache_read_input_tokens": _CACHE_READ_TOKENS,
        "output_tokens": output_tokens,
    }


def _anthropic(model: str, events: int, enc: msgspec.json.Encoder) -> tuple[bytes, list[bytes]]:
    text = "".join(_word(i) for i in range(events))
    message: dict[str, Any] = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": model,
        "stop_reason": None,
        "stop_sequence": None,
    }
    body = {
        **message,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": _anthropic_usage(events),
    }

    def sse(obj: dict[str, Any]) -> bytes:
        return b"event: " + str(obj["type"]).encode() + b"\ndata: " + enc.encode(obj) + b"\n\n"

    start = sse({"type": "message_start", "message": {**message, "content": [], "usage": _anthropic_usage(1)}})
    block = sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    deltas = [
        sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": _word(i)}})
        for i in range(events)
    ]
    tail = (
        sse({"type": "content_block_stop", "index": 0})
        + sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": events},
            }
        )
        + sse({"type": "message_stop"})
    )
    steps = list(deltas)
    steps[0] = start + block + steps[0]
    steps[-1] += tail
    return enc.encode(body), _frame(steps)


def build_bodies(model: str, events: int) -> ResponseBodies:
    """Build every response body for ``model`` with ``events`` content events per stream."""
    enc = msgspec.json.Encoder()
    openai_json, openai_sse, openai_sse_usage = _openai(model, events, enc)
    anthropic_json, anthropic_sse = _anthropic(model, events, enc)
    return ResponseBodies(openai_json, openai_sse, openai_sse_usage, anthropic_json, anthropic_sse)
