"""Battle settings in each provider's own dialect, and thinking streamed per slot."""

from __future__ import annotations

from gateway.accounts import BootstrapResult
from gateway.arena.lanes import provider_body
from gateway.config import ModelEntry
from tests.arena.helpers import stream_battle
from tests.support.mock_upstream import MockUpstream, Script, anthropic_stream_events, sse
from tests.support.server import GatewayServer

TURNS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why is the sky blue?"}]


def test_settings_become_each_dialects_own_fields() -> None:
    entry = ModelEntry("m", "x", "m-up", "standard")
    settings = {"temperature": 1.5, "maxTokens": 300, "reasoningEffort": "high", "extendedThinkingEnabled": False}
    oa = provider_body(entry, "openai", TURNS, settings, stream=True)
    assert oa["messages"] == TURNS and oa["temperature"] == 1.5 and oa["max_completion_tokens"] == 300
    assert oa["reasoning_effort"] == "high" and oa["stream_options"] == {"include_usage": True}
    an = provider_body(entry, "anthropic", TURNS, settings, stream=False)
    assert an["system"] == "Be brief." and an["messages"] == TURNS[1:] and an["max_tokens"] == 300
    assert an["temperature"] == 1.0  # Anthropic's range ends at 1
    thinking = {**settings, "extendedThinkingEnabled": True, "thinkingBudgetTokens": 2048}
    an = provider_body(entry, "anthropic", TURNS, thinking, stream=True)
    assert an["thinking"] == {"type": "enabled", "budget_tokens": 2048} and "temperature" not in an
    assert an["max_tokens"] > 2048


def _thinking_stream(text: str) -> list[bytes]:
    usage = {"input_tokens": 9, "output_tokens": 30, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    frames = anthropic_stream_events(text, "claude-sonnet-5", usage)

    def delta(text: str) -> bytes:
        body = {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": text}}
        return sse("content_block_delta", body)

    block = {"type": "thinking", "thinking": ""}
    thinking = [
        sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
        delta("Rayleigh "),
        delta("scattering."),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]
    return frames[:1] + thinking + frames[1:]


def test_thinking_is_streamed_and_stored_per_slot(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult
) -> None:
    upstream.script_for("/v1/messages", Script(events=_thinking_stream("Short waves scatter more.")))
    resp, events, _raw = stream_battle(
        gateway.url,
        org.api_key,
        {
            "prompt": "Why is the sky blue?",
            "models": ["claude-sonnet-5", "gpt-5.4"],
            "stream": True,
            "settings": {"extended_thinking": True, "reasoning_effort": "low", "max_tokens": 500},
        },
    )
    assert resp.status_code == 200
    thought = "".join(d["delta"].get("thinking", "") for k, d in events if k == "slot.delta" and d["slot"] == 0)
    assert thought == "Rayleigh scattering."
    final = events[-2][1]["battle"]
    assert final["responses"][0]["thinking"] == "Rayleigh scattering."
    assert final["responses"][0]["content"] == "Short waves scatter more."
    assert final["settings"]["extendedThinkingEnabled"] is True and final["settings"]["reasoningEffort"] == "low"
    sent = {r.path: r.body for r in upstream.requests}
    assert sent["/v1/messages"]["thinking"]["type"] == "enabled"
    assert sent["/v1/chat/completions"]["reasoning_effort"] == "low"
