"""Requests the translator refuses: a 400 in the endpoint's dialect naming the field and what is
allowed, and no budget left held (neither a reservation row nor the in-process in-flight amount)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.accounts import BootstrapResult
from gateway.policy.lease_guard import LeaseBudgetGuard
from tests.policy.helpers import add_spend, budget
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer

CHAT = "/v1/chat/completions"
MSGS = "/v1/messages"
USER = {"role": "user", "content": "hi"}

REFUSALS: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("n>1 to Claude", CHAT, {"model": "claude-haiku-4-5", "n": 2, "messages": [USER]}, "n", "set it to 1"),
    (
        "server tool to GPT",
        MSGS,
        {
            "model": "gpt-4o-mini",
            "max_tokens": 10,
            "messages": [USER],
            "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        },
        "tools[0].type",
        "only custom tools",
    ),
    (
        "image part to Claude",
        CHAT,
        {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": [{"type": "image"}]}]},
        "messages[0].content[0].type",
        "allowed: text, image_url",
    ),
    (
        "non-JSON tool arguments to Claude",
        CHAT,
        {
            "model": "claude-haiku-4-5",
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "r"},
            ],
        },
        "arguments",
        "JSON object",
    ),
]


def _post(gateway: GatewayServer, path: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, headers={"authorization": f"Bearer {key}"}, timeout=10)


def _message_and_param(resp: httpx.Response, path: str) -> tuple[str, str | None]:
    body = resp.json()
    if path == MSGS:
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error", body
        return body["error"]["message"], None
    assert body["error"]["type"] == "invalid_request_error", body
    return body["error"]["message"], body["error"]["param"]


@pytest.mark.parametrize(("name", "path", "body", "field", "allowed"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusal_is_a_400_naming_the_field_and_holds_no_strict_reservation(
    gateway: GatewayServer,
    upstream: MockUpstream,
    org: BootstrapResult,
    conn: Any,
    name: str,
    path: str,
    body: dict[str, Any],
    field: str,
    allowed: str,
) -> None:
    # Near the limit every admitted request takes a strict reservation row.
    budget(conn, org.organization_id, "1.00", hard=True)
    add_spend(conn, org.organization_id, org.user_id, 95_000)
    resp = _post(gateway, path, org.api_key, body)
    assert resp.status_code == 400, resp.text
    message, param = _message_and_param(resp, path)
    assert field in message and allowed in message, message
    if param is not None:
        assert field in param
    assert not upstream.requests
    gateway.flush()
    unreleased = conn.execute("SELECT count(*) FROM gateway_budget_reservations WHERE released_at IS NULL").fetchone()
    assert unreleased == (0,)
    held = conn.execute(
        "SELECT COALESCE(SUM(reserved_millicents), 0) FROM gateway_budget_counters WHERE organization_id = %s",
        (org.organization_id,),
    ).fetchone()
    assert held == (0,)


@pytest.mark.parametrize(("name", "path", "body", "field", "allowed"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusal_leaves_no_in_flight_amount(
    gateway: GatewayServer,
    upstream: MockUpstream,
    org: BootstrapResult,
    conn: Any,
    name: str,
    path: str,
    body: dict[str, Any],
    field: str,
    allowed: str,
) -> None:
    # Far from the limit the guard admits against its lease and counts the worst case in flight.
    budget(conn, org.organization_id, "100.00", hard=True)
    for _ in range(3):
        assert _post(gateway, path, org.api_key, body).status_code == 400
    guard = gateway.services.budget
    assert isinstance(guard, LeaseBudgetGuard)
    assert guard.inflight_millicents(org.organization_id) == 0


def test_a_refused_request_starts_no_conversation(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Any
) -> None:
    budget(conn, org.organization_id, "1.00", hard=True)
    add_spend(conn, org.organization_id, org.user_id, 99_990)
    body = {"model": "claude-haiku-4-5", "max_tokens": 600, "messages": [USER]}
    resp = httpx.post(
        gateway.url + MSGS,
        json=body,
        headers={"authorization": f"Bearer {org.api_key}", "x-conversation-id": "new"},
        timeout=10,
    )
    assert resp.status_code == 402, resp.text
    assert "x-conversation-id" not in resp.headers
    gateway.flush()
    assert conn.execute("SELECT count(*) FROM conversations").fetchone() == (0,)
