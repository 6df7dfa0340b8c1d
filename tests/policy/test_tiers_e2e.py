"""Model tiers and system prompts through the running gateway, in both dialects."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from gateway.accounts import BootstrapResult
from gateway.catalog import Catalog
from tests.policy.helpers import Conn, add_group, add_user, audit_rows, set_org
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


def _chat(gateway: GatewayServer, key: str, model: str) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )


def _messages(gateway: GatewayServer, key: str, model: str) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": key},
        json={"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )


def _model_ids(gateway: GatewayServer, key: str) -> dict[str, Any]:
    resp = httpx.get(gateway.url + "/v1/models", headers={"authorization": f"Bearer {key}"}, timeout=10)
    assert resp.status_code == 200
    return {m["id"]: m["tier"] for m in resp.json()["data"]}


def test_group_narrows_org_tiers_in_both_dialects(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    user, key = add_user(conn, org.organization_id, "dev@acme.test", "member")
    add_group(conn, org.organization_id, "interns", [user], tiers=["basic"])
    refused = _chat(gateway, key, "claude-sonnet-4-5")
    assert refused.status_code == 403
    err = refused.json()["error"]
    assert err["type"] == "permission_error" and err["code"] == "tier_not_allowed"
    assert "claude-sonnet-4-5" in err["message"] and "'standard'" in err["message"] and "basic" in err["message"]
    refused_a = _messages(gateway, key, "gpt-5")
    assert refused_a.status_code == 403
    body = refused_a.json()
    assert body["type"] == "error" and body["error"]["type"] == "permission_error"
    assert "gpt-5" in body["error"]["message"] and "premium" in body["error"]["message"]
    assert _chat(gateway, key, "claude-haiku-4-5").status_code == 200
    basic = {m.id for m in Catalog.with_overrides([]).models() if m.tier == "basic"}
    assert {"claude-haiku-4-5", "gpt-4o-mini"} <= basic
    assert set(_model_ids(gateway, key)) == basic | {"auto"}
    # The owner is in no group: the organization's tiers apply to them unchanged.
    assert "claude-opus-4-5" in _model_ids(gateway, org.api_key)
    gateway.flush()
    rows = audit_rows(conn, org.organization_id, "request.refused")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (user, "claude-sonnet-4-5", "tier_not_allowed"),
        (user, "gpt-5", "tier_not_allowed"),
    ]


def test_several_groups_allow_the_union_within_the_org(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    set_org(conn, org.organization_id, allowed_tiers=["basic", "standard"])
    user, key = add_user(conn, org.organization_id, "pm@acme.test", "member")
    add_group(conn, org.organization_id, "a", [user], tiers=["basic"])
    add_group(conn, org.organization_id, "b", [user], tiers=["standard", "premium"])
    add_group(conn, org.organization_id, "inherits", [user], tiers=None)
    assert _chat(gateway, key, "claude-sonnet-4-5").status_code == 200
    # premium is in a group's list but not the organization's: still refused.
    assert _chat(gateway, key, "claude-opus-4-5").status_code == 403
    assert set(_model_ids(gateway, key).values()) == {"basic", "standard", "auto"}


def test_disabled_model_and_per_org_tier_override(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    set_org(
        conn,
        org.organization_id,
        allowed_tiers=["basic"],
        model_tier_assignments={"claude-haiku-4-5": None, "gpt-4.1": "basic"},
    )
    refused = _chat(gateway, org.api_key, "claude-haiku-4-5")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_disabled"
    assert "claude-haiku-4-5" in refused.json()["error"]["message"]
    assert _chat(gateway, org.api_key, "gpt-4.1").status_code == 200  # standard in the catalog, basic here
    models = _model_ids(gateway, org.api_key)
    assert "claude-haiku-4-5" not in models and models["gpt-4.1"] == "basic"
    gateway.flush()
    assert [r[2] for r in audit_rows(conn, org.organization_id, "request.refused")] == ["model_disabled"]


def test_auto_falls_back_to_the_nearest_allowed_tier(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    set_org(conn, org.organization_id, allowed_tiers=["standard"])
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=org.api_key)
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    served = raw.headers["x-gateway-model"]
    assert raw.headers["x-gateway-tier"] == "simple"
    medium = Catalog.with_overrides([]).for_complexity("openai", "medium")  # AUTO's medium pick
    assert medium is not None and medium.tier == "standard"
    assert served == medium.id  # the simple class (basic) is not allowed; medium is the nearest
    gateway.flush()
    row = conn.execute(
        "SELECT selected_model, tier, reasoning FROM routing_decisions WHERE organization_id = %s",
        (org.organization_id,),
    ).fetchone()
    assert row is not None and row[0] == medium.id and row[1] == "simple"
    assert "fell back" in row[2]
    usage = conn.execute("SELECT model, tier FROM llm_usage WHERE organization_id = %s", (org.organization_id,))
    assert usage.fetchall() == [(medium.id, "standard")]


def test_auto_refused_when_no_tier_is_usable(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    set_org(conn, org.organization_id, allowed_tiers=[])
    resp = _chat(gateway, org.api_key, "auto")
    assert resp.status_code == 403 and "AUTO" in resp.json()["error"]["message"]
    assert not upstream.requests


@pytest.mark.parametrize("client_system", [None, "You are terse."])
def test_system_prompts_lead_in_both_dialects(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn, client_system: str | None
) -> None:
    set_org(conn, org.organization_id, system_prompt="Org rules.")
    add_group(conn, org.organization_id, "eng", [org.user_id], prompt="Eng rules.")
    add_group(conn, org.organization_id, "silent", [org.user_id], prompt=None)
    oa = openai.OpenAI(base_url=gateway.url + "/v1", api_key=org.api_key)
    msgs: list[Any] = [{"role": "system", "content": client_system}] if client_system else []
    oa.chat.completions.create(model="gpt-4o-mini", messages=[*msgs, {"role": "user", "content": "hi"}])
    an = anthropic.Anthropic(base_url=gateway.url, api_key=org.api_key)
    extra: dict[str, Any] = {"system": client_system} if client_system else {}
    for _ in range(2):
        an.messages.create(
            model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}], **extra
        )
    first_openai = upstream.requests[0].body["messages"]
    assert first_openai[0] == {"role": "system", "content": "Org rules.\n\nEng rules."}
    if client_system:
        assert first_openai[1] == {"role": "system", "content": client_system}
    a1, a2 = (r.body["system"] for r in upstream.requests[1:3])
    assert a1[0] == {"type": "text", "text": "Org rules.\n\nEng rules."}
    assert a1 == a2  # byte-identical leading block: the provider's prompt cache stays valid
    assert [b["text"] for b in a1[1:]] == ([client_system] if client_system else [])
