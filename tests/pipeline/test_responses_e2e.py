"""``POST /v1/responses`` (and ``GET``/``DELETE /v1/responses/{id}``) through the official
``openai`` SDK against the running gateway: natively to OpenAI, translated to Anthropic."""

from __future__ import annotations

from typing import Any, cast

import openai
import psycopg
import pytest

from gateway import accounts
from gateway.accounts import BootstrapResult
from tests.pipeline.helpers import only_usage_row, usage_rows
from tests.policy.helpers import add_spend, budget
from tests.support.mock_upstream import (
    MockUpstream,
    Script,
    anthropic_message,
    responses_event,
)
from tests.support.server import GatewayServer

WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
SCHEMA: Any = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
CLAUDE_USAGE = {"input_tokens": 11, "output_tokens": 7, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 5}


def oai(gateway: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def tokens(row: dict[str, Any]) -> tuple[int, int, int, int]:
    return (row["prompt_tokens"], row["cache_creation_tokens"], row["cache_read_tokens"], row["completion_tokens"])


# --- OpenAI models: the upstream's own /responses ------------------------------------------


def test_openai_native_stored_then_read_and_deleted(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = oai(gateway, org.api_key)
    raw = client.responses.with_raw_response.create(model="gpt-4o-mini", instructions="Be brief.", input="hi")
    resp = raw.parse()
    assert resp.output_text == upstream.text
    assert resp.id.startswith("resp_")
    assert resp.model == "gpt-4o-mini"
    assert resp.usage is not None and (resp.usage.input_tokens, resp.usage.output_tokens) == (16, 7)
    assert raw.headers["x-gateway-model"] == "gpt-4o-mini"
    sent = upstream.requests[-1]
    assert sent.path == "/v1/responses"
    assert sent.headers["Authorization"] == "Bearer test-openai-key"
    assert (sent.body["model"], sent.body["input"], sent.body["instructions"]) == ("gpt-4o-mini", "hi", "Be brief.")
    assert sent.body["store"] is False  # the gateway keeps the chain itself
    gateway.flush()
    row = only_usage_row(db_url)
    assert tokens(row) == (11, 0, 5, 7)
    assert (row["model"], row["provider"], row["status"]) == ("gpt-4o-mini", "openai", "success")
    assert row["estimated_cost_millicents"] > 0

    again = client.responses.retrieve(resp.id)
    assert again.output_text == upstream.text and again.id == resp.id
    client.responses.delete(resp.id)
    with pytest.raises(openai.NotFoundError) as gone:
        client.responses.retrieve(resp.id)
    assert gone.value.code == "response_not_found"


def test_openai_native_streamed(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    events = list(oai(gateway, org.api_key).responses.create(model="gpt-4o-mini", input="hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == upstream.text
    done = events[-1].response  # type: ignore[union-attr]
    assert done.id.startswith("resp_") and done.model == "gpt-4o-mini"
    assert done.usage is not None and done.usage.output_tokens == 7
    assert events[0].response.id == done.id  # type: ignore[union-attr]
    assert upstream.requests[-1].body["stream"] is True
    gateway.flush()
    assert tokens(only_usage_row(db_url)) == (11, 0, 5, 7)
    # Stored before "completed" reached the client.
    assert oai(gateway, org.api_key).responses.retrieve(done.id).output_text == upstream.text


def test_openai_native_chain_is_expanded_by_the_gateway(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult
) -> None:
    client = oai(gateway, org.api_key)
    first = client.responses.create(model="gpt-4o-mini", input="My name is Ada.")
    client.responses.create(model="gpt-4o-mini", input="What is my name?", previous_response_id=first.id)
    sent = upstream.requests[-1].body
    assert "previous_response_id" not in sent
    assert [i.get("role") for i in sent["input"]] == ["user", "assistant", "user"]
    assert sent["input"][0]["content"] == "My name is Ada."
    assert sent["input"][1]["content"][0]["text"] == upstream.text
    assert sent["input"][2]["content"] == "What is my name?"


def test_openai_native_failure_mid_stream_is_an_error_event(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    created = responses_event(
        "response.created", 0, response={"id": "resp_up", "object": "response", "status": "in_progress", "output": []}
    )
    delta = responses_event("response.output_text.delta", 1, item_id="m", output_index=0, content_index=0, delta="Hal")
    upstream.scripts.append(Script(events=[created, delta, delta], break_after=2))
    events = list(oai(gateway, org.api_key).responses.create(model="gpt-4o-mini", input="hi", stream=True))
    assert [e.type for e in events] == ["response.created", "response.output_text.delta", "error"]
    assert "mid-stream" in events[-1].message  # type: ignore[union-attr]
    gateway.flush()
    row = only_usage_row(db_url)
    assert row["status"] == "error" and row["usage_estimated"] is True


# --- Anthropic models: translated ----------------------------------------------------------


def test_claude_tools_and_function_call_output_through_previous_response_id(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = oai(gateway, org.api_key)
    tool_use = [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]
    upstream.scripts.append(
        Script(body=anthropic_message("", "claude-haiku-4-5", CLAUDE_USAGE, content=tool_use, stop="tool_use"))
    )
    first = client.responses.create(model="claude-haiku-4-5", input="Weather in Paris?", tools=[WEATHER])
    calls = [o for o in first.output if o.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [("toolu_1", "get_weather", '{"city":"Paris"}')]
    sent = upstream.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.body["tools"][0]["name"] == "get_weather" and "input_schema" in sent.body["tools"][0]

    second = client.responses.create(
        model="claude-haiku-4-5",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": "toolu_1", "output": "sunny"}],
        tools=[WEATHER],
    )
    assert second.output_text == upstream.text
    messages = upstream.requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][0] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert messages[2]["content"][0]["type"] == "tool_result" and messages[2]["content"][0]["content"] == "sunny"
    gateway.flush()
    rows = usage_rows(db_url)
    assert len(rows) == 2 and {r["model"] for r in rows} == {"claude-haiku-4-5"}
    assert tokens(rows[-1]) == (11, 3, 5, 7)


def test_claude_streamed_with_reasoning_effort_and_text_format(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    events = list(
        oai(gateway, org.api_key).responses.create(
            model="claude-sonnet-4-5",
            input=cast(Any, [{"role": "user", "content": [{"type": "input_text", "text": "Answer in JSON."}]}]),
            instructions="Be brief.",
            reasoning={"effort": "low"},
            text={"format": {"type": "json_schema", "name": "answer", "schema": SCHEMA, "strict": True}},
            max_output_tokens=300,
            stream=True,
        )
    )
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-1] == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == upstream.text
    done = events[-1].response  # type: ignore[union-attr]
    assert done.output_text == upstream.text
    assert done.usage is not None and done.usage.output_tokens == 7
    sent = upstream.requests[-1].body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent["max_tokens"] == 300 + 2048
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert sent["system"][0]["text"] == "Be brief."
    gateway.flush()
    assert tokens(only_usage_row(db_url)) == (11, 3, 5, 7)


def test_auto_model_routes_and_records_the_decision(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    raw = oai(gateway, org.api_key).responses.with_raw_response.create(model="auto", input="hi", store=False)
    assert raw.headers["x-gateway-tier"] in ("simple", "medium", "complex")
    assert raw.parse().output_text == upstream.text
    gateway.flush()
    with psycopg.connect(db_url) as conn:
        decisions = conn.execute("SELECT selected_model FROM routing_decisions").fetchall()
    assert decisions == [(raw.headers["x-gateway-model"],)]
    with pytest.raises(openai.NotFoundError):  # store: false keeps nothing
        oai(gateway, org.api_key).responses.retrieve(raw.parse().id)


# --- errors, in OpenAI's shape --------------------------------------------------------------


def test_errors_are_openai_shaped(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    client = oai(gateway, org.api_key)
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="gpt-9", input="hi")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as file_id:
        client.responses.create(
            model="claude-haiku-4-5",
            input=cast(Any, [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]),
        )
    assert file_id.value.param == "input[0].content[0].file_data"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(
            model="gpt-4o-mini", input=cast(Any, [{"type": "message", "role": "robot", "content": "x"}])
        )
    assert upstream.requests == []
    upstream.scripts.append(
        Script(status=500, body={"type": "error", "error": {"type": "api_error", "message": "boom"}})
    )
    with pytest.raises(openai.APIStatusError) as failed:
        client.responses.create(model="claude-haiku-4-5", input="hi")
    assert failed.value.status_code == 502 and "boom" in failed.value.message
    with pytest.raises(openai.AuthenticationError):
        oai(gateway, "gw-bad").responses.create(model="gpt-4o-mini", input="hi")


def test_stored_responses_belong_to_their_owner(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    mine = oai(gateway, org.api_key).responses.create(model="gpt-4o-mini", input="secret")
    with psycopg.connect(db_url, autocommit=True) as conn:
        other = accounts.bootstrap(conn, org="Acme", email="colleague@acme.test", role="member")
    theirs = oai(gateway, other.api_key)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.delete(mine.id)
    with pytest.raises(openai.NotFoundError) as chained:
        theirs.responses.create(model="gpt-4o-mini", input="and?", previous_response_id=mine.id)
    assert chained.value.param == "previous_response_id"
    assert oai(gateway, org.api_key).responses.retrieve(mine.id).output_text == upstream.text


def test_hosted_tools_pass_to_openai_and_are_dropped_for_claude(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult
) -> None:
    client = oai(gateway, org.api_key)
    tools: Any = [{"type": "web_search"}, WEATHER]
    client.responses.create(model="gpt-4o-mini", input="hi", tools=tools)
    assert upstream.requests[-1].body["tools"] == tools  # OpenAI runs its own hosted tools
    translated = client.responses.create(model="claude-haiku-4-5", input="hi", tools=tools)
    assert [t["name"] for t in upstream.requests[-1].body["tools"]] == ["get_weather"]
    assert translated.output_text == upstream.text


# --- the same policy as the other endpoints ---------------------------------------------------


def test_budget_hard_limit_is_an_openai_402(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        budget(conn, org.organization_id, "1.00", hard=True)
        add_spend(conn, org.organization_id, org.user_id, 100_000)  # $1.00: the whole budget
    with pytest.raises(openai.APIStatusError) as refused:
        oai(gateway, org.api_key).responses.create(model="claude-haiku-4-5", input="hi")
    assert refused.value.status_code == 402
    assert refused.value.code == "budget_exhausted"
    assert upstream.requests == []


def test_conversation_header_appends_both_turns(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    raw = oai(gateway, org.api_key).responses.with_raw_response.create(
        model="claude-haiku-4-5", input="remember this", extra_headers={"X-Conversation-Id": "new"}
    )
    conv = raw.headers["x-conversation-id"]
    gateway.flush()
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT messages FROM conversations WHERE id = %s", (conv,)).fetchone()
    assert row is not None
    assert [(m["role"], m["content"]) for m in row[0]] == [("user", "remember this"), ("assistant", upstream.text)]
    assert only_usage_row(db_url)["conversation_id"] == conv
