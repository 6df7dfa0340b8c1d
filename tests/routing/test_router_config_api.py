"""``GET``/``PUT /v1/router/config``: versions, roles, validation, and live pick-up by every process."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import psycopg

from gateway.accounts import BootstrapResult
from gateway.catalog import Catalog
from router.config import DEFAULT_CONFIG, DEFAULT_WEIGHTS
from tests.routing.conftest import add_user
from tests.routing.helpers import COMPLEX_PROMPT, decision_row
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


def config_body(**over: Any) -> dict[str, Any]:
    return {"simple_max": 17, "medium_max": 55, "weights": dict(DEFAULT_WEIGHTS)} | over


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def auto_tier(server: GatewayServer, key: str, prompt: str = COMPLEX_PROMPT) -> tuple[str, str]:
    """(tier header, request id) of one AUTO request through the OpenAI SDK."""
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": prompt}])
    return raw.headers["x-gateway-tier"], raw.headers["x-request-id"]


def test_get_returns_builtin_then_saved_version(router_gw: GatewayServer, org: BootstrapResult, conn: Any) -> None:
    got = httpx.get(router_gw.url + "/v1/router/config", headers=auth(org.api_key))
    assert got.status_code == 200
    assert got.headers["x-router-config-source"] == "built-in"
    assert got.json()["version"] == 0 and got.json()["simple_max"] == DEFAULT_CONFIG.simple_max

    put = httpx.put(
        router_gw.url + "/v1/router/config", headers=auth(org.api_key), json=config_body(simple_max=30, bias=-2.5)
    )
    assert put.status_code == 200, put.text
    saved = put.json()
    assert saved["version"] >= 1 and saved["simple_max"] == 30 and saved["bias"] == -2.5

    # A second PUT is a new version; the old one is kept (decisions name the version they used).
    again = httpx.put(router_gw.url + "/v1/router/config", headers=auth(org.api_key), json=config_body(simple_max=31))
    assert again.json()["version"] > saved["version"]
    got = httpx.get(router_gw.url + "/v1/router/config", headers=auth(org.api_key))
    assert got.headers["x-router-config-source"] == "organization"
    assert got.json() == again.json()
    rows = conn.execute(
        "SELECT version, created_by::text, config->>'simple_max' FROM gateway_router_config "
        "WHERE organization_id = %s ORDER BY version",
        (org.organization_id,),
    ).fetchall()
    assert rows == [(saved["version"], org.user_id, "30"), (again.json()["version"], org.user_id, "31")]
    audits = conn.execute(
        "SELECT user_id, resource_type, resource_id, action FROM audit_events "
        "WHERE event_type = 'router_config.changed'"
    ).fetchall()
    assert audits == [(org.user_id, "router_config", org.organization_id, "update")] * 2


def test_put_changes_next_request_tier_on_both_processes(
    router_gw: GatewayServer, second_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    # The second process caches configurations for an hour: only NOTIFY can make it see a change.
    second_gw.services.router_store.ttl_s = 3600.0
    assert auto_tier(router_gw, org.api_key)[0] == "complex"
    assert auto_tier(second_gw, org.api_key)[0] == "complex"  # now cached there

    put = httpx.put(
        router_gw.url + "/v1/router/config",
        headers=auth(org.api_key),
        json=config_body(simple_max=99, medium_max=100),
    )
    assert put.status_code == 200, put.text
    version = put.json()["version"]

    tier, request_id = auto_tier(router_gw, org.api_key)
    assert tier == "simple"
    simple = Catalog.with_overrides([]).for_complexity("openai", "simple")  # AUTO's pick, read from the catalog
    assert simple is not None
    assert upstream.requests[-1].body["model"] == simple.upstream
    router_gw.flush()
    assert decision_row(db_url, request_id)["config_version"] == version

    deadline = time.monotonic() + 5
    while (seen := auto_tier(second_gw, org.api_key))[0] != "simple" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen[0] == "simple"
    second_gw.flush()
    assert decision_row(db_url, seen[1])["config_version"] == version


def test_member_may_read_but_not_change(router_gw: GatewayServer, org: BootstrapResult, db_url: str) -> None:
    member = add_user(db_url, "Acme", "member@acme.test", "member")
    finance = add_user(db_url, "Acme", "finance@acme.test", "finance")
    admin = add_user(db_url, "Acme", "admin@acme.test", "admin")
    assert httpx.get(router_gw.url + "/v1/router/config", headers=auth(member.api_key)).status_code == 200
    for who in (member, finance):
        r = httpx.put(router_gw.url + "/v1/router/config", headers=auth(who.api_key), json=config_body())
        assert r.status_code == 403
        assert r.json()["error"]["type"] == "permission_error"
    r = httpx.put(router_gw.url + "/v1/router/config", headers=auth(admin.api_key), json=config_body(simple_max=5))
    assert r.status_code == 200 and r.json()["simple_max"] == 5
    assert httpx.get(router_gw.url + "/v1/router/config").status_code == 401


def test_other_org_untouched(
    router_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, db_url: str
) -> None:
    other = add_user(db_url, "Globex", "owner@globex.test", "owner")
    r = httpx.put(
        router_gw.url + "/v1/router/config", headers=auth(org.api_key), json=config_body(simple_max=99, medium_max=100)
    )
    assert r.status_code == 200
    got = httpx.get(router_gw.url + "/v1/router/config", headers=auth(other.api_key)).json()
    assert got["version"] == 0 and got["simple_max"] == DEFAULT_CONFIG.simple_max
    assert auto_tier(router_gw, other.api_key)[0] == "complex"
    assert auto_tier(router_gw, org.api_key)[0] == "simple"


def test_default_version_applies_until_org_has_its_own(
    router_gw: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: psycopg.Connection[Any]
) -> None:
    conn.execute(
        "INSERT INTO gateway_router_config (organization_id, config) VALUES (NULL, %s::jsonb)",
        ('{"simple_max": 98, "medium_max": 99, "weights": {}}',),
    )
    conn.execute("SELECT pg_notify('gateway_cache', 'router')")
    got = httpx.get(router_gw.url + "/v1/router/config", headers=auth(org.api_key))
    assert got.headers["x-router-config-source"] == "default" and got.json()["simple_max"] == 98


def test_invalid_config_rejected(router_gw: GatewayServer, org: BootstrapResult, conn: Any) -> None:
    url = router_gw.url + "/v1/router/config"
    cases = [
        (config_body(simple_max=60, medium_max=50), "simple_max < medium_max"),
        (config_body(weights={"bogus": 1.0}), "unknown signals ['bogus']"),
        (config_body(confidence_band=0), "confidence_band must be > 0"),
        (config_body(surprise=1), "surprise"),
        ({"simple_max": 10}, "medium_max"),
        (config_body(simple_max="ten"), "simple_max"),
    ]
    for body, needle in cases:
        r = httpx.put(url, headers=auth(org.api_key), json=body)
        assert r.status_code == 400, body
        err = r.json()["error"]
        assert err["code"] == "invalid_router_config"
        assert needle in err["message"], (needle, err["message"])
        assert any(needle in p for p in err["problems"])
    both = httpx.put(url, headers=auth(org.api_key), json=config_body(simple_max=60, medium_max=50, bias=99.0)).json()
    assert len(both["error"]["problems"]) == 2
    assert httpx.put(url, headers=auth(org.api_key), content=b"{not json").status_code == 400
    assert httpx.put(url, headers=auth(org.api_key), content=b"").status_code == 400
    assert conn.execute("SELECT count(*) FROM gateway_router_config").fetchone()[0] == 0
