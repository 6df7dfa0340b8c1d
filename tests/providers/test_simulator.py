"""The simulator answers in its dialect, whole and streamed, as the codecs read it."""

from __future__ import annotations

import msgspec
import pytest

from gateway.config import Dialect
from gateway.dialects.sse import SSEParser
from gateway.pipeline.codecs import CODECS
from gateway.providers.simulator import SimulatorProvider


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_simulator_speaks_its_dialect(dialect: Dialect) -> None:
    sim = SimulatorProvider("sim", dialect, ttft_s=0, token_interval_s=0)
    codec = CODECS[dialect]
    request = {"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": "hello there"}]}
    whole = await sim.send(msgspec.json.encode(request))
    summary = codec.observe_response(await whole.read())
    assert summary.text and summary.usage
    streamed = await sim.send(
        msgspec.json.encode({**request, "stream": True, "stream_options": {"include_usage": True}})
    )
    assert streamed.content_type == "text/event-stream"
    observer = codec.observer(True)
    parser = SSEParser()
    async for chunk in streamed.chunks():
        for ev in parser.feed(chunk):
            observer.observe(ev)
    assert observer.done and observer.usage_final and observer.text == summary.text.replace("  ", " ")
