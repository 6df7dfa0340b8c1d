"""A scriptable provider on loopback, speaking both dialects (aiohttp, its own thread).

By default it answers like the real APIs, with usage that includes prompt-cache tokens
(so cost paths are exercised); tests push ``Script`` entries to make it fail, stall, send
tool calls, or break mid-stream. Every request it receives is kept for assertions.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

_enc = msgspec.json.Encoder()


@dataclass
class Script:
    """One scripted answer. ``events`` are raw SSE frames (bytes) for streams."""

    status: int = 200
    body: dict[str, Any] | None = None
    events: list[bytes] | None = None
    delay_s: float = 0.0
    event_interval_s: float = 0.0
    break_after: int | None = None  # close the connection after this many events
    raw: bytes | None = None  # a body sent as is, with ``content_type`` (e.g. an HTML error page)
    content_type: str = "application/json"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class MockUpstream:
    host: str = "127.0.0.1"
    port: int = 0
    scripts: deque[Script] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    text: str = "Hello from the mock upstream."
    # Anthropic-style usage for the default answer.
    input_tokens: int = 11
    output_tokens: int = 7
    cache_write_tokens: int = 3
    cache_read_tokens: int = 5

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> MockUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server: Any = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def openai_base(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def anthropic_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        self.scripts.clear()
        self.requests.clear()

    # --- handlers ------------------------------------------------------------------------
    async def _record(self, request: web.Request) -> dict[str, Any]:
        body: dict[str, Any] = msgspec.json.decode(await request.read())
        self.requests.append(Recorded(request.path, dict(request.headers), body))
        return body

    async def _play(self, request: web.Request, script: Script) -> web.StreamResponse:
        if script.delay_s:
            await asyncio.sleep(script.delay_s)
        if script.raw is not None:
            return web.Response(status=script.status, body=script.raw, content_type=script.content_type)
        if script.events is None:
            return web.Response(
                status=script.status, body=_enc.encode(script.body or {}), content_type="application/json"
            )
        resp = web.StreamResponse(status=script.status, headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for i, frame in enumerate(script.events):
            if script.break_after is not None and i >= script.break_after:
                assert request.transport is not None
                request.transport.close()
                return resp
            if script.event_interval_s and i:
                await asyncio.sleep(script.event_interval_s)
            await resp.write(frame)
        await resp.write_eof()
        return resp

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if self.scripts:
            return await self._play(request, self.scripts.popleft())
        if body.get("stream"):
            return await self._play(
                request,
                Script(
                    events=openai_stream_events(
                        self.text,
                        body.get("model", "m"),
                        self.input_tokens + self.cache_read_tokens,
                        self.output_tokens,
                        self.cache_read_tokens,
                        include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
                    )
                ),
            )
        return await self._play(
            request,
            Script(
                body=openai_completion(
                    self.text,
                    body.get("model", "m"),
                    self.input_tokens + self.cache_read_tokens,
                    self.output_tokens,
                    self.cache_read_tokens,
                )
            ),
        )

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if self.scripts:
            return await self._play(request, self.scripts.popleft())
        usage = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_write_tokens,
            "cache_read_input_tokens": self.cache_read_tokens,
        }
        if body.get("stream"):
            return await self._play(
                request, Script(events=anthropic_stream_events(self.text, body.get("model", "m"), usage))
            )
        return await self._play(request, Script(body=anthropic_message(self.text, body.get("model", "m"), usage)))


# --- canned bodies in each dialect ---------------------------------------------------------
def openai_completion(
    text: str, model: str, prompt: int, completion: int, cached: int = 0, tool_calls: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text if not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def openai_chunk(
    model: str,
    delta: dict[str, Any],
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    choices: bool = True,
) -> bytes:
    obj: dict[str, Any] = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else [],
    }
    if usage is not None:
        obj["usage"] = usage
    return b"data: " + _enc.encode(obj) + b"\n\n"


def openai_stream_events(
    text: str, model: str, prompt: int, completion: int, cached: int = 0, *, include_usage: bool = True
) -> list[bytes]:
    words = text.split(" ")
    frames = [openai_chunk(model, {"role": "assistant", "content": ""})]
    frames += [openai_chunk(model, {"content": (" " if i else "") + w}) for i, w in enumerate(words)]
    frames.append(openai_chunk(model, {}, "stop"))
    if include_usage:
        frames.append(
            openai_chunk(
                model,
                {},
                usage={
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
                choices=False,
            )
        )
    frames.append(b"data: [DONE]\n\n")
    return frames


def anthropic_message(
    text: str, model: str, usage: dict[str, Any], content: list[dict[str, Any]] | None = None, stop: str = "end_turn"
) -> dict[str, Any]:
    return {
        "id": "msg_mock",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content if content is not None else [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def sse(name: str, obj: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _enc.encode(obj) + b"\n\n"


def anthropic_stream_events(text: str, model: str, usage: dict[str, Any]) -> list[bytes]:
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens"} | {"output_tokens": 1}
    frames = [
        sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_mock",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        )
    ]
    frames.append(
        sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
    )
    for i, w in enumerate(text.split(" ")):
        frames.append(
            sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": (" " if i else "") + w},
                },
            )
        )
    frames.append(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    frames.append(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
    )
    frames.append(sse("message_stop", {"type": "message_stop"}))
    return frames
