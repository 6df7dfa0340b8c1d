"""Reading a judge's reply, and the models picked for a fair pair, a judge and a reviewer."""

from __future__ import annotations

import random

import pytest

from gateway.accounts import BootstrapResult
from gateway.arena.run import fair_pair
from gateway.arena.second_opinion import pick_reviewer
from gateway.arena.verdicts import default_judge, parse_reply
from tests.arena.helpers import post
from tests.policy.helpers import Conn
from tests.support.mock_upstream import MockUpstream, Script, anthropic_message
from tests.support.server import GatewayServer


def test_parse_reply_reads_json_anywhere_in_the_text() -> None:
    assert parse_reply('Sure. {"winner": "2", "reason": "more precise"}', 2) == (1, "win", "more precise")
    assert parse_reply('{"winner": 1}', 3) == (0, "win", "")
    assert parse_reply('{"winner": "Answer 3", "reason": "r"}', 3) == (2, "win", "r")
    assert parse_reply('{"winner": "tie", "reason": "same"}', 2) == (None, "tie", "same")
    assert parse_reply('{"winner": "both_bad", "reason": "wrong"}', 2)[1] == "both_bad"
    with pytest.raises(ValueError, match="not an answer between 1 and 2"):
        parse_reply('{"winner": "3"}', 2)
    with pytest.raises(ValueError, match="no JSON object"):
        parse_reply("The first one.", 2)


def test_picks_respect_tiers_and_prefer_another_provider(gateway: GatewayServer, org: BootstrapResult) -> None:
    services = gateway.services
    principal = gateway.run(services.resolver.from_api_key(org.api_key))
    catalog = services.catalog
    for seed in range(20):
        a, b = fair_pair(services, principal, random.Random(seed))
        assert a.tier == b.tier and a.provider != b.provider and a.complexity and b.complexity
    assert default_judge(services, principal, ("claude-opus-5",)).id == "gpt-5.5"
    sonnet, haiku = catalog.get("claude-sonnet-5"), catalog.get("claude-haiku-4-5")
    assert sonnet is not None and haiku is not None
    assert pick_reviewer(services, principal, sonnet).id == "gpt-5.4"
    assert pick_reviewer(services, principal, haiku).id == "gpt-5.4-mini"
    assert pick_reviewer(services, principal, None).tier == "premium"


def test_an_unreadable_judgment_is_a_502_and_still_billed(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    made = post(gateway.url, org.api_key, "/v1/arena/battles", {"prompt": "hi", "models": ["gpt-5.4", "gpt-4.1"]})
    battle_id = made.json()["id"]
    usage = {"input_tokens": 50, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    upstream.script_for("/v1/messages", Script(body=anthropic_message("The first one, clearly.", "m", usage)))
    resp = post(gateway.url, org.api_key, f"/v1/arena/battles/{battle_id}/judge", {"judge_model": "claude-opus-5"})
    assert resp.status_code == 502 and resp.json()["error"]["code"] == "judge_unreadable"
    gateway.flush()
    row = conn.execute(
        "SELECT request_type, status, completion_tokens FROM llm_usage WHERE model = 'claude-opus-5' "
        "AND organization_id = %s",
        (org.organization_id,),
    ).fetchone()
    assert row == ("arena", "success", 5)
    battle = conn.execute("SELECT judgments FROM arena_battles WHERE id = %s", (battle_id,)).fetchone()
    assert battle == ([],)
