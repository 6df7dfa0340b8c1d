"""Bad arena requests: each a clear 4xx in OpenAI's error shape, and nothing sent upstream."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from gateway import accounts
from gateway.accounts import BootstrapResult
from tests.arena.helpers import auth, get, post
from tests.policy.helpers import Conn, add_user
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer

PAIR = ["claude-sonnet-5", "gpt-5.4"]


def _error(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err: dict[str, Any] = resp.json()["error"]
    assert err["message"] and err["type"]
    if code is not None:
        assert err["code"] == code, err
    return err


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"prompt": "hi", "models": ["gpt-5.4"]}, 400, "model_count", "2 to 4 models"),
        (
            {"prompt": "hi", "models": ["gpt-5.4", "gpt-5", "gpt-4.1", "gpt-5.5", "claude-opus-5"]},
            400,
            "model_count",
            None,
        ),
        ({"prompt": "hi", "models": ["gpt-5.4", "gpt-5.4"]}, 400, "duplicate_model", None),
        ({"prompt": "hi", "models": ["gpt-5.4", "no-such-model"]}, 404, "model_not_found", "no-such-model"),
        ({"models": PAIR}, 400, None, "either 'messages'"),
        ({"prompt": "hi", "messages": [{"role": "user", "content": "hi"}], "models": PAIR}, 400, None, "either"),
        (
            {"messages": [{"role": "assistant", "content": "hi"}], "models": PAIR},
            400,
            None,
            "end with a non-empty user",
        ),
        ({"prompt": "hi", "models": PAIR, "colour": "red"}, 400, None, "colour"),
        ({"prompt": "hi", "models": PAIR, "settings": {"temperature": 5}}, 400, None, "temperature"),
        ({"prompt": "hi", "models": PAIR, "settings": {"web_search": True}}, 400, None, "web search"),
    ],
)
def test_bad_battles_are_refused_before_anything_is_sent(
    gateway: GatewayServer,
    upstream: MockUpstream,
    org: BootstrapResult,
    body: dict[str, Any],
    status: int,
    code: str | None,
    words: str | None,
) -> None:
    err = _error(post(gateway.url, org.api_key, "/v1/arena/battles", body), status, code)
    if words is not None:
        assert words in err["message"]
    assert not upstream.requests


def test_models_the_caller_may_not_use(gateway: GatewayServer, upstream: MockUpstream, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as c:
        basic = accounts.bootstrap(c, org="Basic Co", email="b@basic.test", role="member", tiers=["basic"])
    err = _error(
        post(gateway.url, basic.api_key, "/v1/arena/battles", {"prompt": "hi", "models": ["gpt-5.4-mini", "gpt-5.5"]}),
        403,
        "tier_not_allowed",
    )
    assert "gpt-5.5" in err["message"]
    # A fair pair stays within what the caller may use.
    made = post(gateway.url, basic.api_key, "/v1/arena/battles", {"prompt": "hi"})
    assert made.status_code == 201, made.text
    tiers = {gateway.services.catalog.get(m["id"]).tier for m in made.json()["models"]}  # type: ignore[union-attr]
    assert tiers == {"basic"}
    battle_id = made.json()["id"]
    upstream.reset()
    err = _error(
        post(gateway.url, basic.api_key, f"/v1/arena/battles/{battle_id}/judge", {"judge_model": "claude-opus-5"}),
        403,
        "tier_not_allowed",
    )
    assert "claude-opus-5" in err["message"]
    _error(post(gateway.url, basic.api_key, f"/v1/arena/battles/{battle_id}/judge", {"judge_model": "nope"}), 404)
    assert not upstream.requests


def test_another_users_battle_is_not_found(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    made = post(gateway.url, org.api_key, "/v1/arena/battles", {"prompt": "hi", "models": PAIR})
    assert made.status_code == 201
    battle_id = made.json()["id"]
    _other_id, other_key = add_user(conn, org.organization_id, "eve@acme.test", "member")
    url = gateway.url
    _error(get(url, other_key, f"/v1/arena/battles/{battle_id}"), 404, "battle_not_found")
    _error(post(url, other_key, f"/v1/arena/battles/{battle_id}/vote", {"winner": 0}), 404, "battle_not_found")
    _error(post(url, other_key, f"/v1/arena/battles/{battle_id}/judge", {}), 404, "battle_not_found")
    patched = httpx.patch(f"{url}/v1/arena/battles/{battle_id}", headers=auth(other_key), json={"pinned": True})
    _error(patched, 404, "battle_not_found")
    _error(httpx.delete(f"{url}/v1/arena/battles/{battle_id}", headers=auth(other_key)), 404, "battle_not_found")
    assert get(url, other_key, "/v1/arena/battles").json()["total"] == 0
    # The owner's battle is untouched.
    assert get(url, org.api_key, f"/v1/arena/battles/{battle_id}").json()["pinned"] is False


def test_bad_votes_and_queries(gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult) -> None:
    url, key = gateway.url, org.api_key
    battle_id = post(url, key, "/v1/arena/battles", {"prompt": "hi", "models": PAIR}).json()["id"]
    for winner in (2, "gpt-5", "nobody"):
        _error(post(url, key, f"/v1/arena/battles/{battle_id}/vote", {"winner": winner}), 400, "invalid_winner")
    _error(post(url, key, f"/v1/arena/battles/{battle_id}/vote", {}), 400)
    _error(post(url, key, f"/v1/arena/battles/{battle_id}/vote", {"winner": True}), 400)
    _error(get(url, key, "/v1/arena/rankings", scope="everyone"), 400)
    _error(get(url, key, "/v1/arena/battles", status="finished"), 400)
    _error(get(url, key, "/v1/arena/battles", limit="0"), 400)
    _error(httpx.get(url + "/v1/arena/battles", timeout=10), 401)
    # A vote by model id works, once.
    assert post(url, key, f"/v1/arena/battles/{battle_id}/vote", {"winner": "gpt-5.4"}).status_code == 200
    _error(post(url, key, f"/v1/arena/battles/{battle_id}/vote", {"winner": "both_bad"}), 409, "already_voted")
