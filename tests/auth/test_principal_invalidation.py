"""Revocations and deactivations reach a running server's principal cache through NOTIFY.

The server here caches principals for an hour, so only the invalidation can make it see a
change: with invalidation switched off these tests fail (a short TTL would hide that).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import msgspec
import psycopg
import pytest

from gateway import accounts
from gateway.accounts import BootstrapResult
from gateway.http.app import create_app
from tests.pipeline.test_bad_input import CHAT, GOOD, MSGS, assert_dialect_error, post
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


@pytest.fixture(scope="module")
def cached_gateway(
    migrated_db_url: str, mock_provider: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    settings = gateway_settings(
        migrated_db_url, mock_provider, tmp_path_factory.mktemp("gw-ttl"), principal_cache_ttl_s=3600.0
    )
    server = GatewayServer(create_app(settings)).start()
    yield server
    server.stop()


def _until(gateway: GatewayServer, path: str, key: str, body: bytes, status: int) -> httpx.Response:
    deadline = time.monotonic() + 5  # NOTIFY reaches the server's cache
    resp = post(gateway, path, key, body)
    while resp.status_code != status and time.monotonic() < deadline:
        time.sleep(0.05)
        resp = post(gateway, path, key, body)
    return resp


@pytest.mark.parametrize("path", [CHAT, MSGS])
def test_a_revoked_key_is_refused_at_once(
    cached_gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str, path: str
) -> None:
    body = msgspec.json.encode(GOOD[path])
    # The Anthropic SDK's header works too; this request also puts the principal in the cache.
    ok = httpx.post(cached_gateway.url + path, content=body, headers={"x-api-key": org.api_key}, timeout=10)
    assert ok.status_code == 200
    with psycopg.connect(db_url, autocommit=True) as conn:
        accounts.revoke_key(conn, org.api_key.split("_")[1])
    assert_dialect_error(_until(cached_gateway, path, org.api_key, body, 401), path, 401, "revoked")


def test_inactive_user_and_deleted_org_are_refused(
    cached_gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    body = msgspec.json.encode(GOOD[CHAT])
    assert post(cached_gateway, CHAT, org.api_key, body).status_code == 200  # cached now
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET status = 'suspended' WHERE id = %s", (org.user_id,))
        conn.execute("SELECT pg_notify('gateway_cache', 'principals')")
    assert_dialect_error(_until(cached_gateway, CHAT, org.api_key, body, 401), CHAT, 401, "inactive")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET status = 'active' WHERE id = %s", (org.user_id,))
        conn.execute("SELECT pg_notify('gateway_cache', 'principals')")
    assert _until(cached_gateway, CHAT, org.api_key, body, 200).status_code == 200  # cached again
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE organizations SET deleted_at = NOW() WHERE id = %s", (org.organization_id,))
        conn.execute("SELECT pg_notify('gateway_cache', 'principals')")
    resp = _until(cached_gateway, CHAT, org.api_key, body, 401)
    assert_dialect_error(resp, CHAT, 401, "organization was deleted")
