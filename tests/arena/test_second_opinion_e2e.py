"""``POST /v1/second-opinion`` and ``X-Request-Type`` through the running gateway, with the OpenAI SDK."""

from __future__ import annotations

from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from gateway.accounts import BootstrapResult
from gateway.arena.second_opinion import REVIEW_SYSTEM
from tests.arena.helpers import auth, post
from tests.policy.helpers import Conn
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer

ANSWERED = [
    {"role": "user", "content": "Is 91 prime?"},
    {"role": "assistant", "content": "Yes, 91 is prime."},
]


def _client(gateway: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def _request_types(conn: Conn, org_id: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT model, request_type FROM llm_usage WHERE organization_id = %s AND request_id IS NOT NULL "
        "ORDER BY created_at, model",
        (org_id,),
    ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def test_a_conversation_reviewed_by_another_provider(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    client = _client(gateway, org.api_key)
    reply = client.post(
        "/second-opinion",
        cast_to=ChatCompletion,
        body={"messages": ANSWERED, "original_model": "claude-sonnet-5"},
    )
    assert reply.choices[0].message.content == upstream.text
    # Another provider, same tier (standard), the current model first.
    sent = upstream.requests[-1]
    assert sent.path == "/v1/chat/completions" and sent.body["model"] == "gpt-5.4"
    assert sent.body["messages"][0] == {"role": "system", "content": REVIEW_SYSTEM}
    review = sent.body["messages"][1]["content"]
    assert "Yes, 91 is prime." in review and "Is 91 prime?" in review and "claude-sonnet-5" in review
    gateway.flush()
    assert _request_types(conn, org.organization_id) == [("gpt-5.4", "second-opinion")]


def test_a_stored_request_reviewed_by_id_streamed(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    first = httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": org.api_key, "x-conversation-id": "new"},
        json={
            "model": "claude-haiku-4-5",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "Is 91 prime?"}],
        },
        timeout=20,
    )
    assert first.status_code == 200, first.text
    request_id = first.headers["x-request-id"]
    gateway.flush()
    upstream.reset()
    stream = _client(gateway, org.api_key).post(
        "/second-opinion",
        cast_to=ChatCompletionChunk,
        body={"request_id": request_id, "stream": True},
        stream=True,
        stream_cls=openai.Stream[ChatCompletionChunk],
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == upstream.text
    sent = upstream.requests[-1]
    # claude-haiku-4-5 is basic: the reviewer is the other provider's basic model.
    assert sent.body["model"] == "gpt-5.4-mini" and sent.body["stream"] is True
    assert upstream.text in sent.body["messages"][1]["content"]  # the first answer, under review
    gateway.flush()
    assert _request_types(conn, org.organization_id) == [
        ("claude-haiku-4-5", "chat"),
        ("gpt-5.4-mini", "second-opinion"),
    ]


def test_a_named_reviewer_and_bad_requests(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult
) -> None:
    url, key = gateway.url, org.api_key
    named = post(url, key, "/v1/second-opinion", {"messages": ANSWERED, "model": "claude-opus-5"})
    assert named.status_code == 200 and named.headers["x-gateway-model"] == "claude-opus-5"
    assert upstream.requests[-1].path == "/v1/messages"
    upstream.reset()
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"messages": ANSWERED, "request_id": "00000000-0000-0000-0000-000000000000"}, 400, None),
        ({"messages": ANSWERED[:1]}, 400, None),
        ({"request_id": "00000000-0000-0000-0000-000000000000"}, 404, "request_not_found"),
        ({"messages": ANSWERED, "model": "no-such-model"}, 404, "model_not_found"),
        ({"messages": ANSWERED, "tone": "harsh"}, 400, None),
    ]
    for body, status, code in cases:
        resp = post(url, key, "/v1/second-opinion", body)
        assert resp.status_code == status, (body, resp.text)
        err = resp.json()["error"]
        assert err["message"] and (code is None or err["code"] == code)
    # A request that was not stored in a conversation cannot be referenced.
    plain = httpx.post(
        url + "/v1/chat/completions",
        headers=auth(key),
        json={"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]},
        timeout=20,
    )
    gateway.flush()
    upstream.reset()
    resp = post(url, key, "/v1/second-opinion", {"request_id": plain.headers["x-request-id"]})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "request_not_stored"
    assert not upstream.requests
    assert httpx.post(url + "/v1/second-opinion", json={"messages": ANSWERED}, timeout=10).status_code == 401


def test_request_type_header_on_the_proxy_endpoints(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    body = {"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]}
    for kind in ("arena", "second-opinion", "chat"):
        resp = httpx.post(
            gateway.url + "/v1/chat/completions", headers={**auth(org.api_key), "x-request-type": kind}, json=body
        )
        assert resp.status_code == 200
    bad = httpx.post(
        gateway.url + "/v1/chat/completions", headers={**auth(org.api_key), "x-request-type": "x"}, json=body
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "X-Request-Type"
    gateway.flush()
    assert sorted(t for _m, t in _request_types(conn, org.organization_id)) == ["arena", "chat", "second-opinion"]
