"""A built-in provider for offline use: plausible text, realistic timing, real usage.

It speaks either dialect exactly as the real provider would (SSE events, usage fields),
so everything downstream — translation, usage, cost, budgets, AUTO, reports — runs the
same code as in production. It is registered only when a provider has no key (or when
``GATEWAY_SIMULATOR=on``), and the log says so at start.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec

from gateway.config import Dialect
from gateway.providers.upstream import UpstreamResponse

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()

_WORDS = [
    "Here",
    "is",
    "a",
    "considered",
    "answer.",
    "The",
    "key",
    "idea",
    "is",
    "to",
    "break",
    "the",
    "problem",
    "into",
    "parts,",
    "check",
    "each",
    "assumption,",
    "and",
    "keep",
    "the",
    "result",
    "simple",
    "enough",
    "to",
    "verify.",
    "First,",
    "restate",
    "what",
    "is",
    "asked;",
    "then",
    "work",
    "through",
    "the",
    "steps",
    "in",
    "order;",
    "finally,",
    "summarise",
    "what",
    "follows",
    "and",
    "what",
    "to",
    "watch",
    "for.",
]


def _prompt_chars(req: dict[str, Any]) -> int:
    total = len(str(req.get("system", "")))
    for m in req.get("messages", []):
        total += len(str(m.get("content", "")))
    return total


class _SimResponse:
    def __init__(self, status: int, body: bytes | None, stream: AsyncIterator[bytes] | None) -> None:
        self.status = status
        self.content_type: str | None = "application/json" if body is not None else "text/event-stream"
        self._body = body
        self._stream = stream

    async def read(self) -> bytes:
        if self._body is not None:
            return self._body
        assert self._stream is not None
        return b"".join([c async for c in self._stream])

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._stream is None:
            yield self._body or b""
            return
        async for c in self._stream:
            yield c

    async def close(self) -> None:
        return None


class SimulatorProvider:
    """Generates a reply whose length grows with the prompt, bounded by max_tokens."""

    def __init__(self, name: str, dialect: Dialect, *, ttft_s: float = 0.12, token_interval_s: float = 0.015) -> None:
        self.name = name
        self.dialect = dialect
        self._ttft = ttft_s
        self._interval = token_interval_s
        # The dialect picks the renderers once (no per-request dialect test).
        self._full = {"anthropic": self._anthropic_full, "openai": self._openai_full}[dialect]
        self._frames = {"anthropic": self._anthropic_frames, "openai": self._openai_frames}[dialect]

    async def send(self, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamResponse:
        req = _dec.decode(body)
        input_tokens = max(1, _prompt_chars(req) // 4)
        limit = int(req.get("max_tokens") or req.get("max_completion_tokens") or 256)
        n = max(1, min(limit, 12 + input_tokens // 8, 120))
        words = [_WORDS[i % len(_WORDS)] for i in range(n)]
        model = str(req.get("model", "simulator"))
        if not req.get("stream"):
            if self._ttft:
                await asyncio.sleep(self._ttft + self._interval * n / 4)
            return _SimResponse(200, self._full(model, words, input_tokens), None)
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        return _SimResponse(200, None, self._stream(model, words, input_tokens, include_usage))

    def _anthropic_full(self, model: str, words: list[str], input_tokens: int) -> bytes:
        text = " ".join(words)
        return _enc.encode(
            {
                "id": f"msg_sim_{uuid.uuid4().hex[:20]}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": len(words)},
            }
        )

    def _openai_full(self, model: str, words: list[str], input_tokens: int) -> bytes:
        text = " ".join(words)
        return _enc.encode(
            {
                "id": f"chatcmpl-sim{uuid.uuid4().hex[:20]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": input_tokens,
                    "completion_tokens": len(words),
                    "total_tokens": input_tokens + len(words),
                },
            }
        )

    async def _stream(
        self, model: str, words: list[str], input_tokens: int, include_usage: bool
    ) -> AsyncIterator[bytes]:
        if self._ttft:
            await asyncio.sleep(self._ttft)
        async for frame in self._frames(model, words, input_tokens, include_usage):
            yield frame

    async def _openai_frames(
        self, model: str, words: list[str], input_tokens: int, include_usage: bool
    ) -> AsyncIterator[bytes]:
        cid = f"chatcmpl-sim{uuid.uuid4().hex[:20]}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return b"data: " + _enc.encode(obj) + b"\n\n"

        yield chunk({"role": "assistant", "content": ""})
        for i, w in enumerate(words):
            if i and self._interval:
                await asyncio.sleep(self._interval)
            yield chunk({"content": (" " if i else "") + w})
        yield chunk({}, "stop")
        if include_usage:
            usage = {
                "prompt_tokens": input_tokens,
                "completion_tokens": len(words),
                "total_tokens": input_tokens + len(words),
            }
            obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
            yield b"data: " + _enc.encode(obj) + b"\n\n"
        yield b"data: [DONE]\n\n"

    async def _anthropic_frames(
        self, model: str, words: list[str], input_tokens: int, include_usage: bool
    ) -> AsyncIterator[bytes]:
        # Anthropic streams always carry usage; include_usage is an OpenAI option.
        def ev(name: str, obj: dict[str, Any]) -> bytes:
            return b"event: " + name.encode() + b"\ndata: " + _enc.encode(obj) + b"\n\n"

        yield ev(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_sim_{uuid.uuid4().hex[:20]}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                },
            },
        )
        yield ev(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
        for i, w in enumerate(words):
            if i and self._interval:
                await asyncio.sleep(self._interval)
            delta = {"type": "text_delta", "text": (" " if i else "") + w}
            yield ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        yield ev("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(words)},
            },
        )
        yield ev("message_stop", {"type": "message_stop"})
