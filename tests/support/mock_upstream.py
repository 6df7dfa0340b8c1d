"""A scriptable provider on loopback, speaking both dialects (aiohttp, its own thread).

By default it answers like the real APIs, with usage that includes prompt-cache tokens
(so cost paths are exercised); tests push ``Script`` entries to make it fail, stall, send
tool calls, or break mid-stream. Every request it receives is kept for assertions.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable
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
    # Fault injection (resilience tests): response headers (e.g. Retry-After), closing the
    # connection before any response (a reset), and a stall after this many stream events.
    headers: dict[str, str] | None = None
    reset: bool = False
    stall_after: int | None = None
    stall_s: float = 0.0
    raw: bytes | None = None  # a body sent as is, with ``content_type`` (e.g. an HTML error page)
    content_type: str = "application/json"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass
class MockUpstream:
    host: str = "127.0.0.1"
    port: int = 0
    scripts: deque[Script] = field(default_factory=deque)
    # Scripts for one path only ("/v1/messages" or "/v1/chat/completions"), played before
    # ``scripts``: tests of concurrent calls to both dialects say which one gets which answer.
    path_scripts: dict[str, deque[Script]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    # Per upstream model: a reply text, or a Script (tests of strategies calling several models).
    replies: dict[str, str | Script] = field(default_factory=dict)
    text: str = "Hello from the mock upstream."
    # Anthropic-style usage for the default answer.
    input_tokens: int = 11
    output_tokens: int = 7
    cache_write_tokens: int = 3
    cache_read_tokens: int = 5
    # What /v1/messages/count_tokens answers.
    count_tokens: int = 42
    # Answers chosen from the request itself (path, body), before the queued scripts: for
    # clients such as agents that send requests of their own in an order a queue cannot know.
    responder: Callable[[str, dict[str, Any]], Script | None] | None = None

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
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/responses", self._responses)
        # Clouds: Azure OpenAI deployments, Bedrock and Vertex AI for Claude.
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._openai)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)
        app.router.add_post("/model/{model}/invoke", self._anthropic)
        app.router.add_post("/model/{model}/invoke-with-response-stream", self._bedrock_stream)
        app.router.add_post(
            "/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}", self._anthropic
        )
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
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
        self.path_scripts.clear()
        self.requests.clear()
        self.replies.clear()
        self.responder = None

    def script_for(self, path: str, script: Script) -> None:
        """Queue ``script`` for the next request to ``path`` only."""
        self.path_scripts.setdefault(path, deque()).append(script)

    def _next_script(self, path: str) -> Script | None:
        own = self.path_scripts.get(path)
        if own:
            return own.popleft()
        return self.scripts.popleft() if self.scripts else None

    # --- handlers ------------------------------------------------------------------------
    def _scripted(self, path: str, body: dict[str, Any]) -> Script | None:
        """The responder's answer for this request, else the next queued script, else None."""
        if self.responder is not None:
            script = self.responder(path, body)
            if script is not None:
                return script
        return self._next_script(path)

    async def _record(self, request: web.Request) -> dict[str, Any]:
        body: dict[str, Any] = msgspec.json.decode(await request.read())
        self.requests.append(Recorded(request.path, dict(request.headers), body, time.monotonic()))
        return body

    async def _play(self, request: web.Request, script: Script) -> web.StreamResponse:
        if script.delay_s:
            await asyncio.sleep(script.delay_s)
        if script.reset:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never sent: the connection is gone
        if script.raw is not None:
            return web.Response(status=script.status, body=script.raw, content_type=script.content_type)
        if script.events is None:
            return web.Response(
                status=script.status,
                body=_enc.encode(script.body or {}),
                content_type="application/json",
                headers=script.headers,
            )
        resp = web.StreamResponse(
            status=script.status, headers={"content-type": "text/event-stream", **(script.headers or {})}
        )
        await resp.prepare(request)
        for i, frame in enumerate(script.events):
            if script.break_after is not None and i >= script.break_after:
                assert request.transport is not None
                request.transport.close()
                return resp
            if script.stall_after is not None and i == script.stall_after:
                await asyncio.sleep(script.stall_s)
            if script.event_interval_s and i:
                await asyncio.sleep(script.event_interval_s)
            await resp.write(frame)
        await resp.write_eof()
        return resp

    def _reply(self, body: dict[str, Any]) -> tuple[Script | None, str]:
        """The scripted reply for the body's model: (a Script to play, or None) and the text."""
        reply = self.replies.get(str(body.get("model")))
        if isinstance(reply, Script):
            return reply, self.text
        return None, reply if reply is not None else self.text

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if (script := self._scripted(request.path, body)) is not None:
            return await self._play(request, script)
        scripted, text = self._reply(body)
        if scripted is not None:
            return await self._play(request, scripted)
        if body.get("stream"):
            return await self._play(
                request,
                Script(
                    events=openai_stream_events(
                        text,
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
                    text,
                    body.get("model", "m"),
                    self.input_tokens + self.cache_read_tokens,
                    self.output_tokens,
                    self.cache_read_tokens,
                )
            ),
        )

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if (script := self._scripted(request.path, body)) is not None:
            return await self._play(request, script)
        scripted, text = self._reply(body)
        if scripted is not None:
            return await self._play(request, scripted)
        usage = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_write_tokens,
            "cache_read_input_tokens": self.cache_read_tokens,
        }
        if body.get("stream"):
            return await self._play(
                request, Script(events=anthropic_stream_events(text, body.get("model", "m"), usage))
            )
        return await self._play(request, Script(body=anthropic_message(text, body.get("model", "m"), usage)))

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if (script := self._scripted(request.path, body)) is not None:
            return await self._play(request, script)
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        return await self._play(request, Script(body=openai_embeddings(body.get("model", "m"), len(texts), 3)))

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if (script := self._scripted(request.path, body)) is not None:
            return await self._play(request, script)
        usage = responses_usage_body(
            self.input_tokens + self.cache_read_tokens, self.output_tokens, self.cache_read_tokens
        )
        model = body.get("model", "m")
        if body.get("stream"):
            return await self._play(request, Script(events=responses_stream_events(self.text, model, usage)))
        return await self._play(request, Script(body=responses_object(model, [responses_message(self.text)], usage)))

    async def _bedrock_stream(self, request: web.Request) -> web.StreamResponse:
        """Bedrock's streams: the Anthropic events, each inside an AWS event-stream frame."""
        body = await self._record(request)
        script = self._scripted(request.path, body)
        if script is None:
            usage = {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cache_creation_input_tokens": self.cache_write_tokens,
                "cache_read_input_tokens": self.cache_read_tokens,
            }
            script = Script(events=anthropic_stream_events(self.text, request.match_info["model"], usage))
        events = [eventstream_chunk(frame) for frame in script.events or []]
        resp = web.StreamResponse(status=script.status, headers={"content-type": "application/vnd.amazon.eventstream"})
        await resp.prepare(request)
        for frame in events:
            await resp.write(frame)
        await resp.write_eof()
        return resp

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if (script := self._scripted(request.path, body)) is not None:
            return await self._play(request, script)
        return await self._play(request, Script(body={"input_tokens": self.count_tokens}))


# --- canned bodies in each dialect ---------------------------------------------------------
def responses_usage_body(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    """Responses API usage (``input_tokens`` includes the cached ones)."""
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def responses_message(text: str, item_id: str = "msg_up") -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def responses_call(name: str, arguments: str, call_id: str = "call_up", item_id: str = "fc_up") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def responses_object(
    model: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    status: str = "completed",
    response_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id or f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "usage": usage,
        "error": None,
        "incomplete_details": None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def responses_event(kind: str, seq: int, **fields: Any) -> bytes:
    return sse(kind, {"type": kind, "sequence_number": seq, **fields})


def responses_stream_events(text: str, model: str, usage: dict[str, Any]) -> list[bytes]:
    """The Responses event stream of one text answer, word by word, as OpenAI sends it."""
    rid = f"resp_{uuid.uuid4().hex}"
    shell = responses_object(model, [], None, status="in_progress", response_id=rid)
    frames = [responses_event("response.created", 0, response=shell)]
    item = {"type": "message", "id": "msg_up", "status": "in_progress", "role": "assistant", "content": []}
    frames.append(responses_event("response.output_item.added", 1, output_index=0, item=item))
    seq = 2
    for i, w in enumerate(text.split(" ")):
        delta = (" " if i else "") + w
        frames.append(
            responses_event(
                "response.output_text.delta", seq, item_id="msg_up", output_index=0, content_index=0, delta=delta
            )
        )
        seq += 1
    done = responses_message(text)
    frames.append(responses_event("response.output_item.done", seq, output_index=0, item=done))
    final = responses_object(model, [done], usage, response_id=rid)
    frames.append(responses_event("response.completed", seq + 1, response=final))
    return frames


def openai_embeddings(model: str, n: int, tokens_each: int, dims: int = 4) -> dict[str, Any]:
    """An embeddings answer: ``n`` vectors of ``dims`` floats, ``tokens_each`` input tokens per input."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": [0.5 + i] * dims} for i in range(n)],
        "model": model,
        "usage": {"prompt_tokens": n * tokens_each, "total_tokens": n * tokens_each},
    }


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


def anthropic_tool_stream_events(
    model: str, tool_id: str, name: str, tool_input: dict[str, Any], usage: dict[str, Any]
) -> list[bytes]:
    """An Anthropic stream whose answer is one ``tool_use`` block, its input sent in two deltas."""
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens"} | {"output_tokens": 1}
    message: dict[str, Any] = {
        "id": "msg_mock_tool",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    args = _enc.encode(tool_input).decode()
    half = len(args) // 2
    block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
    frames = [
        sse("message_start", {"type": "message_start", "message": message}),
        sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
    ]
    for part in (args[:half], args[half:]):
        delta = {"type": "input_json_delta", "partial_json": part}
        frames.append(sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    frames.append(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    frames.append(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
    )
    frames.append(sse("message_stop", {"type": "message_stop"}))
    return frames


def responses_call_stream_events(
    model: str, name: str, arguments: str, usage: dict[str, Any], call_id: str = "call_up"
) -> list[bytes]:
    """The Responses event stream of one function call, its arguments in two deltas."""
    rid = f"resp_{uuid.uuid4().hex}"
    frames = [responses_event("response.created", 0, response=responses_object(model, [], None, "in_progress", rid))]
    item = {
        "type": "function_call",
        "id": "fc_up",
        "call_id": call_id,
        "name": name,
        "arguments": "",
        "status": "in_progress",
    }
    frames.append(responses_event("response.output_item.added", 1, output_index=0, item=item))
    half = len(arguments) // 2
    for seq, part in ((2, arguments[:half]), (3, arguments[half:])):
        frames.append(
            responses_event("response.function_call_arguments.delta", seq, item_id="fc_up", output_index=0, delta=part)
        )
    done = responses_call(name, arguments, call_id)
    frames.append(
        responses_event(
            "response.function_call_arguments.done", 4, item_id="fc_up", output_index=0, arguments=arguments
        )
    )
    frames.append(responses_event("response.output_item.done", 5, output_index=0, item=done))
    frames.append(
        responses_event("response.completed", 6, response=responses_object(model, [done], usage, response_id=rid))
    )
    return frames


def eventstream_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message (string headers only), CRCs included."""
    raw_headers = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + len(v.encode()).to_bytes(2, "big") + v.encode()
        for k, v in headers.items()
    )
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = total.to_bytes(4, "big") + len(raw_headers).to_bytes(4, "big")
    head = prelude + zlib.crc32(prelude).to_bytes(4, "big") + raw_headers + payload
    return head + zlib.crc32(head).to_bytes(4, "big")


def eventstream_chunk(sse_frame: bytes) -> bytes:
    """An Anthropic SSE frame (``event:``/``data:`` lines) as the Bedrock chunk carrying it."""
    data = next(line[6:] for line in sse_frame.split(b"\n") if line.startswith(b"data: "))
    payload = _enc.encode({"bytes": base64.b64encode(data).decode()})
    return eventstream_frame(
        {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, payload
    )
