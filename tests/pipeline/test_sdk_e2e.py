"""The official SDKs, unchanged but for the base URL, against the real server.

Each test checks what the client saw, what the provider received, and the usage row
the gateway wrote.
"""

from __future__ import annotations

import time

import anthropic
import openai
import psycopg
import pytest

from gateway.accounts import BootstrapResult
from tests.pipeline.helpers import only_usage_row, usage_rows
from tests.support.mock_upstream import (
    MockUpstream,
    Script,
    anthropic_message,
    openai_chunk,
    openai_completion,
    sse,
)
from tests.support.server import GatewayServer

WEATHER_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
WEATHER_TOOL_ANTHROPIC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def oai(gateway: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def ant(gateway: GatewayServer, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


# --- OpenAI dialect -----------------------------------------------------------------------


def test_openai_to_openai_non_streamed(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    raw = oai(gateway, org.api_key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        extra_body={"seed": 7, "some_future_field": {"x": 1}},
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == upstream.text
    assert raw.headers["x-gateway-model"] == "gpt-4o-mini"
    assert raw.headers["x-request-id"]
    sent = upstream.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == "Bearer test-openai-key"  # the gateway's key, not the client's
    # Unknown fields the client sent reach a same-dialect provider untouched.
    assert sent.body["seed"] == 7
    assert sent.body["some_future_field"] == {"x": 1}
    gateway.flush()
    row = only_usage_row(db_url)
    # OpenAI's prompt_tokens (16) includes 5 cached: stored as 11 uncached + 5 cache reads.
    assert (row["prompt_tokens"], row["cache_read_tokens"], row["completion_tokens"]) == (11, 5, 7)
    assert row["total_tokens"] == 23
    assert (row["model"], row["provider"], row["tier"], row["status"]) == ("gpt-4o-mini", "openai", "basic", "success")
    assert row["request_type"] == "chat"


def test_openai_stream_withholds_usage_chunk_unless_asked(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = oai(gateway, org.api_key)
    chunks = list(
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == upstream.text
    assert all(c.usage is None for c in chunks), "client did not ask for usage"
    # ...but the gateway asked the provider for it, so the row is exact.
    assert upstream.requests[-1].body["stream_options"] == {"include_usage": True}
    gateway.flush()
    row = only_usage_row(db_url)
    assert (row["prompt_tokens"], row["cache_read_tokens"], row["completion_tokens"]) == (11, 5, 7)
    assert row["usage_estimated"] is False

    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1
    assert usage[0].prompt_tokens == 16
    assert usage[0].completion_tokens == 7


def test_openai_sdk_to_claude_streamed_with_usage(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    chunks = list(
        oai(gateway, org.api_key).chat.completions.create(
            model="claude-sonnet-4-5",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=100,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == upstream.text
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    usage = [c.usage for c in chunks if c.usage is not None][-1]
    assert usage.completion_tokens == 7
    sent = upstream.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.body["system"] == "Be brief." or sent.body["system"][0]["text"] == "Be brief."
    assert sent.body["max_tokens"] == 100
    assert sent.body["stream"] is True
    assert sent.headers["x-api-key"] == "test-anthropic-key"
    gateway.flush()
    row = only_usage_row(db_url)
    assert (row["prompt_tokens"], row["cache_creation_tokens"], row["cache_read_tokens"], row["completion_tokens"]) == (
        11,
        3,
        5,
        7,
    )
    # claude-sonnet-4-5: input 300,000, cache write 375,000, cache read 30,000, output 1,500,000 millicents per
    # million tokens -> (11*300000 + 3*375000 + 5*30000 + 7*1500000) / 1e6 = 15.075 -> 15.
    assert row["estimated_cost_millicents"] == 15


def test_openai_sdk_tool_call_to_claude(gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult) -> None:
    usage = {"input_tokens": 20, "output_tokens": 9}
    upstream.scripts.append(
        Script(
            body=anthropic_message(
                "",
                "claude-haiku-4-5",
                usage,
                content=[{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}],
                stop="tool_use",
            )
        )
    )
    resp = oai(gateway, org.api_key).chat.completions.create(
        model="claude-haiku-4-5",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[WEATHER_TOOL_OPENAI],  # type: ignore[list-item]
    )
    call = resp.choices[0].message.tool_calls
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call is not None
    fn = call[0]
    assert fn.type == "function"
    assert fn.function.name == "get_weather"
    assert fn.function.arguments.replace(" ", "") == '{"city":"Oslo"}'
    assert upstream.requests[-1].body["tools"][0]["name"] == "get_weather"
    # The tool result goes back as an Anthropic tool_result block.
    upstream.scripts.append(Script(body=anthropic_message("It is sunny.", "claude-haiku-4-5", usage)))
    resp2 = oai(gateway, org.api_key).chat.completions.create(
        model="claude-haiku-4-5",
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny, 21C"},
        ],
        tools=[WEATHER_TOOL_OPENAI],  # type: ignore[list-item]
    )
    assert resp2.choices[0].message.content == "It is sunny."
    msgs = upstream.requests[-1].body["messages"]
    assert msgs[1]["content"][0]["type"] == "tool_use"
    assert msgs[2]["role"] == "user"
    assert msgs[2]["content"][0]["type"] == "tool_result"
    assert msgs[2]["content"][0]["tool_use_id"] == "toolu_1"


# --- Anthropic dialect --------------------------------------------------------------------


def test_anthropic_to_anthropic_streamed(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    with ant(gateway, org.api_key).messages.stream(
        model="claude-haiku-4-5",
        max_tokens=64,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "hi"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == upstream.text
    assert final.usage.cache_read_input_tokens == 5
    assert final.usage.output_tokens == 7
    sent = upstream.requests[-1]
    assert sent.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent.headers["anthropic-version"] == "2023-06-01"
    gateway.flush()
    row = only_usage_row(db_url)
    assert (row["prompt_tokens"], row["cache_creation_tokens"], row["cache_read_tokens"], row["completion_tokens"]) == (
        11,
        3,
        5,
        7,
    )


def test_anthropic_sdk_to_gpt_streamed_and_not(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = ant(gateway, org.api_key)
    msg = client.messages.create(
        model="gpt-4.1", max_tokens=50, system="Be brief.", messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].type == "text"
    assert msg.content[0].text == upstream.text
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 11
    assert msg.usage.cache_read_input_tokens == 5
    sent = upstream.requests[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    with client.messages.stream(model="gpt-4.1", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == upstream.text
    assert final.usage.output_tokens == 7
    assert upstream.requests[-1].body["stream_options"] == {"include_usage": True}
    gateway.flush()
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT model, prompt_tokens, cache_read_tokens, completion_tokens FROM llm_usage"
        ).fetchall()
    assert rows == [("gpt-4.1", 11, 5, 7), ("gpt-4.1", 11, 5, 7)]


def test_anthropic_sdk_tool_use_from_gpt_stream(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult
) -> None:
    m = "gpt-4.1"
    frames = [
        openai_chunk(m, {"role": "assistant", "content": None}),
        openai_chunk(
            m,
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            },
        ),
        openai_chunk(m, {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        openai_chunk(m, {"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}),
        openai_chunk(m, {}, "tool_calls"),
        openai_chunk(m, {}, usage={"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}, choices=False),
        b"data: [DONE]\n\n",
    ]
    upstream.scripts.append(Script(events=frames))
    with ant(gateway, org.api_key).messages.stream(
        model=m,
        max_tokens=50,
        tools=[WEATHER_TOOL_ANTHROPIC],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    block = final.content[-1]
    assert block.type == "tool_use"
    assert block.name == "get_weather"
    assert block.input == {"city": "Oslo"}
    assert final.usage.output_tokens == 12
    assert upstream.requests[-1].body["tools"][0]["function"]["name"] == "get_weather"


# --- errors -------------------------------------------------------------------------------


def test_upstream_failure_is_502_in_each_dialect(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    upstream.scripts.append(Script(status=500, body={"error": {"message": "boom", "type": "server_error"}}))
    with pytest.raises(openai.APIStatusError) as oe:
        oai(gateway, org.api_key).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert oe.value.status_code == 502
    assert "boom" in oe.value.message
    upstream.scripts.append(
        Script(status=529, body={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    )
    with pytest.raises(anthropic.APIStatusError) as ae:
        ant(gateway, org.api_key).messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert ae.value.status_code == 503
    body = ae.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "overloaded_error"
    gateway.flush()
    with psycopg.connect(db_url) as conn:
        statuses = [r[0] for r in conn.execute("SELECT status FROM llm_usage")]
    assert statuses == ["error", "error"]


def test_stream_broken_mid_way_records_partial_usage(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    m = "gpt-4o-mini"
    frames = [openai_chunk(m, {"role": "assistant", "content": ""})]
    frames += [openai_chunk(m, {"content": "word "}) for _ in range(8)]
    upstream.scripts.append(Script(events=[*frames, b"data: [DONE]\n\n"], break_after=5))
    got: list[str] = []

    def consume() -> None:
        stream = oai(gateway, org.api_key).chat.completions.create(
            model=m, messages=[{"role": "user", "content": "x"}], stream=True
        )
        for c in stream:
            got.extend(ch.delta.content or "" for ch in c.choices)

    # The gateway ends the stream with an error chunk; the SDK raises it.
    with pytest.raises(openai.APIError):
        consume()
    assert "".join(got).startswith("word word")
    gateway.flush()
    row = only_usage_row(db_url)
    assert row["status"] == "error"
    assert row["usage_estimated"] is True
    assert row["completion_tokens"] >= 1  # estimated from the text streamed before the break


def test_client_cancel_mid_stream_is_recorded(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    m = "gpt-4o-mini"
    frames = [openai_chunk(m, {"role": "assistant", "content": ""})]
    frames += [openai_chunk(m, {"content": f"w{i} "}) for i in range(40)]
    upstream.scripts.append(Script(events=[*frames, b"data: [DONE]\n\n"], event_interval_s=0.05))
    stream = oai(gateway, org.api_key).chat.completions.create(
        model=m, messages=[{"role": "user", "content": "x"}], stream=True
    )
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    deadline = time.monotonic() + 10
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        gateway.flush()
        rows = usage_rows(db_url)
        if rows:
            break
        time.sleep(0.1)
    assert len(rows) == 1
    assert rows[0]["status"] == "cancelled"
    assert rows[0]["usage_estimated"] is True


def test_openai_completion_with_cache_tokens_costs_to_the_millicent(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    upstream.scripts.append(Script(body=openai_completion("ok", "gpt-4.1", 120_000, 3_000, cached=80_000)))
    oai(gateway, org.api_key).chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "x"}])
    gateway.flush()
    row = only_usage_row(db_url)
    # gpt-4.1: input $2/M = 200,000 mc/M; cached $0.50/M = 50,000; output $8/M = 800,000.
    # 40,000 * 200,000 + 80,000 * 50,000 + 3,000 * 800,000 = 14,400,000,000 -> / 1e6 = 14,400.
    assert (row["prompt_tokens"], row["cache_read_tokens"], row["completion_tokens"]) == (40_000, 80_000, 3_000)
    assert row["estimated_cost_millicents"] == 14_400


def test_anthropic_with_cache_tokens_costs_to_the_millicent(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    usage = {
        "input_tokens": 1_000,
        "output_tokens": 500,
        "cache_creation_input_tokens": 2_000,
        "cache_read_input_tokens": 10_000,
    }
    events = [
        sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {**usage, "output_tokens": 1},
                },
            },
        ),
        sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
        ),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 500},
            },
        ),
        sse("message_stop", {"type": "message_stop"}),
    ]
    upstream.scripts.append(Script(events=events))
    with ant(gateway, org.api_key).messages.stream(
        model="claude-sonnet-4-5", max_tokens=600, messages=[{"role": "user", "content": "x"}]
    ) as s:
        s.get_final_message()
    gateway.flush()
    row = only_usage_row(db_url)
    # 1,000*300,000 + 2,000*375,000 + 10,000*30,000 + 500*1,500,000 = 2,100,000,000 -> 2,100 millicents.
    assert row["estimated_cost_millicents"] == 2_100
    assert row["total_tokens"] == 13_500


def test_one_hour_cache_writes_cost_more_to_the_millicent(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    usage = {
        "input_tokens": 1_000,
        "output_tokens": 100,
        "cache_creation_input_tokens": 3_000,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 2_000, "ephemeral_1h_input_tokens": 1_000},
    }
    upstream.scripts.append(Script(body=anthropic_message("ok", "claude-sonnet-4-5", usage)))
    ant(gateway, org.api_key).messages.create(
        model="claude-sonnet-4-5", max_tokens=200, messages=[{"role": "user", "content": "x"}]
    )
    gateway.flush()
    row = only_usage_row(db_url)
    # 1,000*300,000 + 2,000*375,000 (5-minute writes) + 1,000*600,000 (1-hour writes) + 100*1,500,000
    # = 1,800,000,000 micro-millicents -> 1,800 millicents (1,575 if every write were billed at 5 minutes).
    assert row["cache_creation_tokens"] == 3_000
    assert row["estimated_cost_millicents"] == 1_800
