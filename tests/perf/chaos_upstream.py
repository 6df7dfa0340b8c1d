"""A flaky OpenAI-dialect upstream for the chaos bench (its own process, aiohttp).

Each request draws once: with probability ``--fail`` it answers 500 or 529 (half each),
with ``--stall`` it sends nothing for ``--stall-s`` seconds before answering, otherwise it
answers at once with the same bodies as the fast mock (``sse_bodies``). Draws come from a
seeded generator, so two runs with the same seed inject the same faults in the same order.
"""

from __future__ import annotations

import argparse
import asyncio
import random

import msgspec
from aiohttp import web

from tests.perf.sse_bodies import build_bodies

_dec = msgspec.json.Decoder()


def make_app(fail: float, stall: float, stall_s: float, seed: int, events: int) -> web.Application:
    rng = random.Random(seed)
    bodies = build_bodies("gpt-4o-mini", events)
    counts = {"ok": 0, "500": 0, "529": 0, "stall": 0}

    async def chat(request: web.Request) -> web.StreamResponse:
        body = _dec.decode(await request.read())
        draw = rng.random()
        if draw < fail:
            status = 500 if rng.random() < 0.5 else 529
            counts[str(status)] += 1
            return web.json_response({"error": {"message": "chaos", "type": "server_error"}}, status=status)
        if draw < fail + stall:
            counts["stall"] += 1
            await asyncio.sleep(stall_s)
        else:
            counts["ok"] += 1
        if not body.get("stream"):
            return web.Response(body=bodies.openai_json, content_type="application/json")
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for step in bodies.openai_sse_usage:
            # The bodies are pre-framed HTTP/1.1 chunks; send their payloads only.
            payload = _unchunk(step)
            if payload:
                await resp.write(payload)
        await resp.write_eof()
        return resp

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(counts)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/stats", stats)
    app.router.add_get("/health", health)
    return app


def _unchunk(step: bytes) -> bytes:
    """The payload of one or more HTTP/1.1 chunks (the fast mock writes them raw)."""
    out = bytearray()
    rest = step
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return bytes(out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--fail", type=float, default=0.30)
    p.add_argument("--stall", type=float, default=0.05)
    p.add_argument("--stall-s", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--events", type=int, default=10)
    a = p.parse_args()
    web.run_app(make_app(a.fail, a.stall, a.stall_s, a.seed, a.events), host="127.0.0.1", port=a.port, print=None)


if __name__ == "__main__":
    main()
