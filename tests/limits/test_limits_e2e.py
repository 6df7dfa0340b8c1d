"""Rate limits, key budgets, auth throttling and the principal cache through the running gateway."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from gateway.accounts import BootstrapResult
from gateway.http.app import create_app
from tests.policy.helpers import Conn
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


def _chat(url: str, key: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100},
        timeout=20,
    )


def _messages(url: str, key: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/messages",
        headers={"x-api-key": key},
        json={"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]},
        timeout=20,
    )


def test_key_rpm_limit_answers_429_in_each_dialect_with_headers(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    while time.time() % 60 > 45:  # keep the burst inside one minute window
        time.sleep(0.5)
    conn.execute("UPDATE gateway_api_keys SET rpm_limit = 2, tpm_limit = 100000 WHERE organization_id = %s",
                 (org.organization_id,))  # fmt: skip
    first = _chat(gateway.url, org.api_key)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-limit-tokens"] == "100000"
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    assert _messages(gateway.url, org.api_key).status_code == 200
    oa = _chat(gateway.url, org.api_key)
    assert oa.status_code == 429 and int(oa.headers["retry-after"]) >= 1
    assert oa.json()["error"]["type"] == "rate_limit_error" and oa.json()["error"]["code"] == "requests_rate_limited"
    assert oa.headers["x-ratelimit-remaining-requests"] == "0"
    an = _messages(gateway.url, org.api_key)
    assert an.status_code == 429 and an.json()["type"] == "error"
    assert an.json()["error"]["type"] == "rate_limit_error" and "retry-after" in an.headers
    assert len(upstream.requests) == 2  # refusals never reach the provider


def test_key_budget_refuses_with_402_naming_the_key(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    conn.execute("UPDATE gateway_api_keys SET monthly_budget_millicents = 10 WHERE organization_id = %s",
                 (org.organization_id,))  # fmt: skip
    resp = _chat(gateway.url, org.api_key)
    assert resp.status_code == 402
    err = resp.json()["error"]
    assert err["code"] == "key_budget_exhausted" and "this API key" in err["message"]
    assert not upstream.requests


def test_user_budget_refuses_with_402_naming_the_user(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    conn.execute(
        "INSERT INTO gateway_user_limits (user_id, organization_id, monthly_budget_millicents) VALUES (%s, %s, 10)",
        (org.user_id, org.organization_id),
    )
    resp = _messages(gateway.url, org.api_key)
    assert resp.status_code == 402 and resp.json()["error"]["type"] == "billing_error"
    assert "your user has spent" in resp.json()["error"]["message"]


def test_failed_authentication_is_throttled_per_client_address(
    db_url: str, upstream: MockUpstream, org: BootstrapResult, tmp_path: Path
) -> None:
    settings = gateway_settings(db_url, upstream, tmp_path, auth_failures_per_min=5)
    server = GatewayServer(create_app(settings)).start()
    try:
        statuses = [_chat(server.url, "gw_00000000_wrongwrongwrong").status_code for _ in range(8)]
        blocked = _chat(server.url, org.api_key)  # even a good key waits: the address is blocked
    finally:
        server.stop()
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 3
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1


def test_cold_cache_burst_loads_each_key_once(
    db_url: str, upstream: MockUpstream, org: BootstrapResult, tmp_path: Path
) -> None:
    import asyncio

    settings = gateway_settings(db_url, upstream, tmp_path, principal_cache_ttl_s=30.0)
    server = GatewayServer(create_app(settings)).start()
    try:

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=30) as client:
                reqs = [
                    client.post(
                        server.url + "/v1/chat/completions",
                        headers={"authorization": f"Bearer {org.api_key}"},
                        json={"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]},
                    )
                    for _ in range(100)
                ]
                return [r.status_code for r in await asyncio.gather(*reqs)]

        statuses = asyncio.run(burst())
        loads = server.services.resolver.loads
    finally:
        server.stop()
    assert statuses == [200] * 100
    assert loads == 1  # single flight: 100 concurrent misses, one database load


def test_tokens_per_minute_count_the_usage_each_call_reported(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    while time.time() % 60 > 45:
        time.sleep(0.5)
    conn.execute("UPDATE gateway_api_keys SET tpm_limit = 20 WHERE organization_id = %s", (org.organization_id,))
    first = _messages(gateway.url, org.api_key)  # the mock reports 11 + 3 + 5 input and 7 output tokens
    assert first.status_code == 200 and first.headers["x-ratelimit-remaining-tokens"] == "20"
    time.sleep(0.3)  # settlement reaches the limiter off the request path
    second = _chat(gateway.url, org.api_key)
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "tokens_rate_limited"
    assert second.headers["x-ratelimit-remaining-tokens"] == "0" and "retry-after" in second.headers


def test_streamed_responses_carry_the_rate_limit_headers(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    while time.time() % 60 > 45:
        time.sleep(0.5)
    conn.execute("UPDATE gateway_api_keys SET rpm_limit = 50 WHERE organization_id = %s", (org.organization_id,))
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {org.api_key}"},
        json={"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        timeout=20,
    ) as resp:
        body = resp.read()
    assert resp.status_code == 200 and b"[DONE]" in body
    assert resp.headers["x-ratelimit-limit-requests"] == "50"
    assert resp.headers["x-ratelimit-remaining-requests"] == "49"
