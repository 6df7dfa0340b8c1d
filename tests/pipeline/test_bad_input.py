"""Bad input gets the right status and a body in the endpoint's own dialect, never a 500."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import msgspec
import psycopg
import pytest

from gateway import accounts
from gateway.accounts import BootstrapResult
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer

CHAT = "/v1/chat/completions"
MSGS = "/v1/messages"
GOOD = {
    CHAT: {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    MSGS: {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
}


def post(gateway: GatewayServer, path: str, key: str | None, content: bytes, **headers: str) -> httpx.Response:
    h = {"content-type": "application/json", **headers}
    if key is not None:
        h["authorization"] = f"Bearer {key}"
    return httpx.post(gateway.url + path, content=content, headers=h, timeout=10)


def assert_dialect_error(resp: httpx.Response, path: str, status: int, needle: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert resp.headers["x-request-id"]
    if path == MSGS:
        assert body["type"] == "error"
        assert set(body["error"]) == {"type", "message"}
        message = body["error"]["message"]
    else:
        assert set(body["error"]) >= {"message", "type", "code"}
        message = body["error"]["message"]
    assert needle in message, message


CASES = [
    ("malformed json", b'{"model": "x", ', 400, "not valid JSON"),
    ("not an object", b"[1, 2]", 400, "JSON object"),
    ("wrong type", b'{"model": 5, "max_tokens": 3, "messages": [{"role": "user", "content": "x"}]}', 400, "model"),
    ("missing model", b'{"max_tokens": 3, "messages": [{"role": "user", "content": "x"}]}', 400, "model"),
    ("empty messages", b'{"model": "gpt-4o-mini", "max_tokens": 3, "messages": []}', 400, "messages"),
    (
        "bad role",
        b'{"model": "gpt-4o-mini", "max_tokens": 3, "messages": [{"role": "bot", "content": "x"}]}',
        400,
        "role",
    ),
    (
        "invalid UTF-8 in a value",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
        400,
        "UTF-8",
    ),
    ("invalid UTF-8 in a key", b'{"\xff": 1, "model": "gpt-4o-mini", "messages": []}', 400, "UTF-8"),
    (
        "nested 1000 deep",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "metadata": '
        + b"[" * 1000
        + b"]" * 1000
        + b"}",
        400,
        "nested too deeply",
    ),
    (
        "unknown model",
        b'{"model": "gpt-99", "max_tokens": 3, "messages": [{"role": "user", "content": "x"}]}',
        404,
        "gpt-99",
    ),
]


@pytest.mark.parametrize("path", [CHAT, MSGS])
@pytest.mark.parametrize(("name", "body", "status", "needle"), CASES, ids=[c[0] for c in CASES])
def test_bad_bodies(
    gateway: GatewayServer,
    org: BootstrapResult,
    caplog: pytest.LogCaptureFixture,
    path: str,
    name: str,
    body: bytes,
    status: int,
    needle: str,
) -> None:
    assert_dialect_error(post(gateway, path, org.api_key, body), path, status, needle)
    assert not [r for r in caplog.records if r.exc_info], "a bad body must not log a traceback"


@pytest.mark.parametrize("path", [CHAT, MSGS])
def test_max_tokens_is_bounded_by_the_model(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, path: str
) -> None:
    for value in (2**64, 10**30, 64_001):
        body = {"model": "claude-haiku-4-5", "max_tokens": value, "messages": [{"role": "user", "content": "x"}]}
        assert_dialect_error(post(gateway, path, org.api_key, msgspec.json.encode(body)), path, 400, "max_tokens")
    assert not upstream.requests


@pytest.mark.parametrize("path", [CHAT, MSGS])
def test_a_method_other_than_post_is_a_405_in_the_endpoints_dialect(gateway: GatewayServer, path: str) -> None:
    resp = httpx.get(gateway.url + path, timeout=10)
    assert resp.status_code == 405, resp.text
    body = resp.json()
    if path == MSGS:
        assert body["type"] == "error"
        assert "accepts POST only" in body["error"]["message"]
    else:
        assert body["error"]["code"] == "method_not_allowed"
        assert "accepts POST only" in body["error"]["message"]


@pytest.mark.parametrize("path", [CHAT, MSGS])
def test_unknown_request_type_is_a_400(gateway: GatewayServer, org: BootstrapResult, path: str) -> None:
    body = msgspec.json.encode(GOOD[path])
    resp = post(gateway, path, org.api_key, body, **{"x-request-type": "battle"})
    assert_dialect_error(resp, path, 400, "chat, arena, second-opinion")


@pytest.mark.parametrize("path", [CHAT, MSGS])
def test_anthropic_requires_max_tokens_but_openai_does_not(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, path: str
) -> None:
    body = msgspec.json.encode({"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]})
    resp = post(gateway, path, org.api_key, body)
    if path == MSGS:
        assert_dialect_error(resp, path, 400, "max_tokens")
    else:
        assert resp.status_code == 200  # the gateway supplies Anthropic's max_tokens


@pytest.mark.parametrize("path", [CHAT, MSGS])
def test_body_over_the_limit_is_413(gateway: GatewayServer, org: BootstrapResult, path: str) -> None:
    limit = gateway.services.settings.max_body_bytes
    huge = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "' + b"a" * limit + b'"}]}'
    assert_dialect_error(post(gateway, path, org.api_key, huge), path, 413, "larger than")


@pytest.mark.parametrize("path", [CHAT, MSGS])
def test_credentials(gateway: GatewayServer, org: BootstrapResult, path: str) -> None:
    body = msgspec.json.encode(GOOD[path])
    assert_dialect_error(post(gateway, path, None, body), path, 401, "no credentials")
    assert_dialect_error(post(gateway, path, "gw_deadbeef_nope", body), path, 401, "not valid")
    assert_dialect_error(post(gateway, path, "sk-something-else", body), path, 401, "malformed")


def test_jwt_from_the_main_application(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    """HS256 tokens: ``sub`` may be the user's UUID or a legacy id mapped in user_id_mappings."""
    import msgspec.structs

    from gateway.http.app import create_app
    from tests.support.fixtures import gateway_settings

    settings = msgspec.structs.replace(
        gateway.services.settings, jwt_secret="s3cret-for-tests-only-32-bytes-long!", jwt_audience="gateway"
    )
    server = GatewayServer(create_app(settings)).start()
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("INSERT INTO user_id_mappings (legacy_id, user_id) VALUES ('legacy-42', %s)", (org.user_id,))
        body = msgspec.json.encode(GOOD[CHAT])
        for sub in (org.user_id, "legacy-42"):
            token = jwt.encode(
                {"sub": sub, "aud": "gateway", "exp": int(time.time()) + 60},
                settings.jwt_secret or "",
                algorithm="HS256",
            )
            assert post(server, CHAT, token, body).status_code == 200
        expired = jwt.encode(
            {"sub": org.user_id, "aud": "gateway", "exp": int(time.time()) - 10},
            settings.jwt_secret or "",
            algorithm="HS256",
        )
        assert_dialect_error(post(server, CHAT, expired, body), CHAT, 401, "expired")
        forged = jwt.encode(
            {"sub": org.user_id, "aud": "gateway", "exp": int(time.time()) + 60},
            "another-secret-entirely-32-bytes-long",
            algorithm="HS256",
        )
        assert_dialect_error(post(server, CHAT, forged, body), CHAT, 401, "not valid")
        unknown = jwt.encode(
            {"sub": "nobody", "aud": "gateway", "exp": int(time.time()) + 60},
            settings.jwt_secret or "",
            algorithm="HS256",
        )
        assert_dialect_error(post(server, CHAT, unknown, body), CHAT, 401, "not a known user")
    finally:
        server.stop()
    _ = gateway_settings  # imported to show where test settings come from


def test_conversations_append_and_belong_to_their_user(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    body = msgspec.json.encode(GOOD[MSGS])
    first = post(gateway, MSGS, org.api_key, body, **{"x-conversation-id": "new"})
    assert first.status_code == 200
    conv = first.headers["x-conversation-id"]
    uuid.UUID(conv)
    second = post(gateway, MSGS, org.api_key, body, **{"x-conversation-id": conv})
    assert second.status_code == 200 and second.headers["x-conversation-id"] == conv
    gateway.flush()
    with psycopg.connect(db_url, autocommit=True) as conn:
        msgs, user_uuid = conn.execute(
            "SELECT messages, user_uuid::text FROM conversations WHERE id = %s", (conv,)
        ).fetchone() or (None, None)
        assert user_uuid == org.user_id
        assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
        reply = msgs[1]
        assert reply["content"] == upstream.text and reply["model"] == "claude-haiku-4-5"
        assert reply["usage"]["output_tokens"] == 7 and set(reply) >= {"id", "role", "content", "timestamp"}
        assert conn.execute("SELECT count(*) FROM llm_usage WHERE conversation_id = %s", (conv,)).fetchone() == (2,)
        other = accounts.bootstrap(conn, org="Other", email="eve@other.test")
    # Another organization's user cannot read or append to it, nor can a made-up id be used.
    denied = post(gateway, MSGS, other.api_key, body, **{"x-conversation-id": conv})
    assert_dialect_error(denied, MSGS, 404, "not found")
    assert_dialect_error(
        post(gateway, MSGS, org.api_key, body, **{"x-conversation-id": str(uuid.uuid4())}), MSGS, 404, "not found"
    )
    assert_dialect_error(
        post(gateway, CHAT, org.api_key, msgspec.json.encode(GOOD[CHAT]), **{"x-conversation-id": "not-a-uuid"}),
        CHAT,
        400,
        "X-Conversation-Id",
    )
