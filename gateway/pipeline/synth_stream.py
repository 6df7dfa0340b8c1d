"""A whole response re-told as a normal stream, for a streaming client served from a whole answer.

The cascade drafts with whole (non-streamed) calls so it can check them before answering;
when a draft is accepted, a client that asked for a stream still gets one, in its own
dialect, with the events its SDK expects (OpenAI chunks and ``[DONE]``; Anthropic's
``message_start`` ... ``message_stop``). Text only: a request with tools is never drafted.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

_enc = msgspec.json.Encoder()


def _data(obj: object) -> bytes:
    return b"data: " + _enc.encode(obj) + b"\n\n"


def _event(name: str, obj: object) -> bytes:
    return b"event: " + name.encode() + b"\n" + _data(obj)


def _openai(resp: dict[str, Any], include_usage: bool) -> bytes:
    choice = (resp.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    base = {
        "id": resp.get("id", "chatcmpl-cascade"),
        "object": "chat.completion.chunk",
        "created": resp.get("created", int(time.time())),
        "model": resp.get("model", ""),
    }
    out = [
        _data(
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        ),
        _data(
            {
                **base,
                "choices": [{"index": 0, "delta": {"content": message.get("content") or ""}, "finish_reason": None}],
            }
        ),
        _data({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason") or "stop"}]}),
    ]
    if include_usage and resp.get("usage"):
        out.append(_data({**base, "choices": [], "usage": resp["usage"]}))
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def _anthropic(resp: dict[str, Any]) -> bytes:
    text = "".join(b.get("text", "") for b in resp.get("content") or [] if b.get("type") == "text")
    usage = resp.get("usage") or {}
    start = {
        "id": resp.get("id", "msg_cascade"),
        "type": "message",
        "role": "assistant",
        "model": resp.get("model", ""),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 0},
    }
    return b"".join(
        [
            _event("message_start", {"type": "message_start", "message": start}),
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            ),
            _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": resp.get("stop_reason") or "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": int(usage.get("output_tokens", 0))},
                },
            ),
            _event("message_stop", {"type": "message_stop"}),
        ]
    )


def stream_from_response(dialect: str, body: bytes, include_usage: bool) -> bytes:
    """The SSE bytes of a stream telling the same answer as ``body`` (a whole response of ``dialect``)."""
    resp = msgspec.json.decode(body)
    if dialect == "anthropic":
        return _anthropic(resp)
    return _openai(resp, include_usage)
