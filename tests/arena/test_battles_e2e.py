"""Battles through the running gateway, against the scripted upstream speaking both dialects."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from gateway.accounts import BootstrapResult
from gateway.policy.request import PolicyRequest
from tests.arena.helpers import get, judge_answer, post, stream_battle
from tests.policy.helpers import Conn, add_spend, budget, counter
from tests.support.mock_upstream import MockUpstream, Script, openai_stream_events
from tests.support.server import GatewayServer

PAIR = ["claude-sonnet-5", "gpt-5.4"]  # one tier (standard), two providers


def usage_rows(conn: Conn, org_id: str) -> list[tuple[str, str, str, int]]:
    rows = conn.execute(
        "SELECT model, request_type, status, completion_tokens FROM llm_usage WHERE organization_id = %s "
        "AND request_id IS NOT NULL ORDER BY model",
        (org_id,),
    ).fetchall()
    return [(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]


def test_streamed_blind_battle_then_vote_judge_and_rankings(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    url, key = gateway.url, org.api_key
    resp, events, raw = stream_battle(
        url,
        key,
        {"prompt": "Explain TCP slow start.", "models": PAIR, "stream": True, "settings": {"blind": True}},
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    kinds = [k for k, _ in events]
    assert kinds[0] == "battle.created" and kinds[-2] == "battle.completed" and events[-1][1] == "[DONE]"
    created = events[0][1]["battle"]
    assert created["models"] == [{"slot": 0, "label": "Model A"}, {"slot": 1, "label": "Model B"}]
    # Blind: no model is named anywhere in the stream until the vote.
    assert all(m not in raw for m in PAIR)
    deltas = {0: "", 1: ""}
    for kind, data in events:
        if kind == "slot.delta":
            deltas[data["slot"]] += data["delta"].get("content", "")
    assert deltas == {0: upstream.text, 1: upstream.text}
    done = {data["slot"]: data for kind, data in events if kind == "slot.done"}
    assert set(done) == {0, 1}
    for slot in (0, 1):
        m = done[slot]["metrics"]
        assert m["outputTokens"] == upstream.output_tokens and m["costMillicents"] > 0
        assert done[slot]["durationMs"] >= 0 and done[slot]["startedAt"] <= done[slot]["completedAt"]
        assert "error" not in done[slot] and "modelId" not in done[slot]
    final = events[-2][1]["battle"]
    assert final["status"] == "completed" and [r["content"] for r in final["responses"]] == [upstream.text] * 2

    # Each model was asked in its own dialect, streamed.
    asked = {r.path: r.body for r in upstream.requests}
    assert asked["/v1/messages"]["model"] == "claude-sonnet-5" and asked["/v1/messages"]["stream"] is True
    assert asked["/v1/chat/completions"]["model"] == "gpt-5.4"
    battle_id = final["id"]
    stored = get(url, key, f"/v1/arena/battles/{battle_id}").json()
    assert "id" not in stored["models"][0] and "modelId" not in stored["responses"][0]

    # The vote reveals the models.
    voted = post(url, key, f"/v1/arena/battles/{battle_id}/vote", {"winner": 1})
    assert voted.status_code == 200, voted.text
    body = voted.json()
    assert body["status"] == "voted"
    models = [m["id"] for m in body["models"]]
    assert sorted(models) == sorted(PAIR)
    winner, loser = models[1], models[0]
    assert body["vote"]["winnerModelId"] == winner and body["vote"]["winner"] == 1
    again = post(url, key, f"/v1/arena/battles/{battle_id}/vote", {"winner": "tie"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_voted"

    # An AI judgment: the default judge is a premium model outside the battle.
    upstream.script_for("/v1/messages", Script(body=judge_answer("1")))
    judged = post(url, key, f"/v1/arena/battles/{battle_id}/judge", {})
    assert judged.status_code == 200, judged.text
    j = judged.json()["judgments"][0]
    assert j["judgeModel"] == "claude-opus-5" and sorted(j["order"]) == [0, 1]
    # "Answer 1" is whichever slot was shown first.
    assert j["winner"] == j["order"][0] and j["winnerModelId"] == models[j["order"][0]]
    assert j["reason"] == "It answers the question directly."
    judge_prompt = upstream.requests[-1].body["messages"][-1]["content"]
    assert "Answer 1:" in judge_prompt and "Answer 2:" in judge_prompt and upstream.text in judge_prompt

    gateway.flush()
    assert usage_rows(conn, org.organization_id) == sorted(
        [
            ("claude-opus-5", "arena", "success", 20),
            ("claude-sonnet-5", "arena", "success", upstream.output_tokens),
            ("gpt-5.4", "arena", "success", upstream.output_tokens),
        ]
    )

    mine = {r["model"]: r for r in get(url, key, "/v1/arena/rankings", scope="me").json()["data"]}
    assert mine[winner]["wins"] == 1 and mine[winner]["user_wins"] == 1 and mine[loser]["losses"] == 1
    assert mine[winner]["elo_rating"] == 1516.0 and mine[loser]["elo_rating"] == 1484.0
    judged_winner = j["winnerModelId"]
    judged_loser = next(m for m in models if m != judged_winner)
    assert mine[judged_winner]["ai_wins"] == 1 and mine[judged_loser]["ai_losses"] == 1
    # One vote: the user's rating is mostly the organization's (weight 1/(1+10) on their own Elo).
    org_winner = mine[winner]["org_rating"]
    assert org_winner is not None and org_winner > 1500.0
    assert mine[winner]["rating"] == pytest.approx((1516.0 + 10 * org_winner) / 11, abs=0.1)
    org_table = get(url, key, "/v1/arena/rankings", scope="org").json()
    assert org_table["scope"] == "org" and org_table["votes"] == 1
    first, second = org_table["data"]
    assert first["model"] == winner and first["rank"] == 1 and first["rating"] > second["rating"]
    assert first["lower"] <= first["rating"] <= first["upper"]


def test_one_model_failing_mid_stream_does_not_stop_the_other(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    long_text = " ".join(f"word{i}" for i in range(30))
    upstream.script_for(
        "/v1/chat/completions",
        Script(events=openai_stream_events(long_text, "gpt-5.4", 10, 40), break_after=5),
    )
    resp, events, _raw = stream_battle(
        gateway.url, org.api_key, {"prompt": "Tell me a story.", "models": PAIR, "stream": True}
    )
    assert resp.status_code == 200
    done = {d["slot"]: d for k, d in events if k == "slot.done"}
    by_model = {d["modelId"]: d for d in done.values()}
    failed, ok = by_model["gpt-5.4"], by_model["claude-sonnet-5"]
    assert failed["error"]["code"].startswith("upstream") and failed["content"].startswith("word0 word1")
    assert "error" not in ok and ok["content"] == upstream.text
    final = events[-2][1]["battle"]
    assert final["status"] == "completed"
    gateway.flush()
    statuses = {m: s for m, _t, s, _c in usage_rows(conn, org.organization_id)}
    assert statuses == {"gpt-5.4": "error", "claude-sonnet-5": "success"}
    # Only one model answered: nothing to compare, and the failed slot cannot win.
    battle_id = final["id"]
    failed_slot = failed["slot"]
    bad = post(gateway.url, org.api_key, f"/v1/arena/battles/{battle_id}/vote", {"winner": failed_slot})
    assert bad.status_code == 409 and bad.json()["error"]["code"] == "too_few_answers"


def test_a_battle_whose_every_model_fails_is_failed_and_takes_no_vote(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult
) -> None:
    for path in ("/v1/messages", "/v1/chat/completions"):
        upstream.script_for(path, Script(status=500, body={"error": {"message": "boom", "type": "api_error"}}))
    resp = post(gateway.url, org.api_key, "/v1/arena/battles", {"prompt": "hi", "models": PAIR})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "failed" and all(r["error"]["code"] == "upstream_error" for r in body["responses"])
    vote = post(gateway.url, org.api_key, f"/v1/arena/battles/{body['id']}/vote", {"winner": "tie"})
    assert vote.status_code == 409 and vote.json()["error"]["code"] == "battle_failed"
    judge = post(gateway.url, org.api_key, f"/v1/arena/battles/{body['id']}/judge", {})
    assert judge.status_code == 409


def test_budget_refuses_the_whole_battle_before_any_model_starts(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    models = ["claude-haiku-4-5", "gpt-5.4-mini"]
    budget(conn, org.organization_id, "1.00", hard=True)
    services = gateway.services
    guard = services.budget
    worst = []
    for model_id in models:
        entry = services.catalog.get(model_id)
        assert entry is not None
        principal = gateway.run(services.resolver.from_api_key(org.api_key))
        req = PolicyRequest("00000000-0000-0000-0000-000000000000", "", principal, entry, len("hi there"), 2000)
        worst.append(guard.worst_case(req))  # type: ignore[attr-defined]
    assert min(worst) > 0
    # Room for either model alone, not for both.
    room = max(worst) + min(worst) // 2
    add_spend(conn, org.organization_id, org.user_id, 100_000 - room)
    resp = post(
        gateway.url,
        org.api_key,
        "/v1/arena/battles",
        {"prompt": "hi there", "models": models, "settings": {"max_tokens": 2000}, "stream": True},
    )
    assert resp.status_code == 402, resp.text
    err = resp.json()["error"]
    assert err["code"] == "budget_exhausted" and err["type"] == "insufficient_quota"
    assert not upstream.requests
    gateway.flush()
    assert conn.execute("SELECT count(*) FROM arena_battles").fetchone() == (0,)
    assert conn.execute(
        "SELECT count(*) FROM llm_usage WHERE request_id IS NOT NULL AND request_type = 'arena'"
    ).fetchone() == (0,)
    # The first model's hold was given back at once, not left to expire: nothing is in flight
    # in this process, no request-sized lease is open, and the counter reserves only what
    # this process's open headroom leases hold.
    assert guard.inflight_millicents(org.organization_id) == 0  # type: ignore[attr-defined]
    scope = f"org:{org.organization_id}"
    open_requests = conn.execute(
        "SELECT count(*) FROM gateway_budget_leases WHERE released_at IS NULL AND scope = %s "
        "AND holder LIKE 'request:%%'",
        (scope,),
    ).fetchone()
    assert open_requests == (0,)
    open_leases = conn.execute(
        "SELECT COALESCE(SUM(amount_millicents), 0) FROM gateway_budget_leases "
        "WHERE released_at IS NULL AND scope = %s",
        (scope,),
    ).fetchone()
    assert open_leases is not None
    assert counter(conn, org.organization_id)[1] == int(open_leases[0])
    # Either model alone still fits.
    single = post(
        gateway.url,
        org.api_key,
        "/v1/chat/completions",
        {"model": models[0], "max_tokens": 2000, "messages": [{"role": "user", "content": "hi there"}]},
    )
    assert single.status_code == 200, single.text


def test_non_streamed_fair_pair_list_pin_and_delete(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult
) -> None:
    url, key = gateway.url, org.api_key
    made = [post(url, key, "/v1/arena/battles", {"messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(3)]
    assert all(r.status_code == 201 for r in made), [r.text for r in made]
    first = made[0].json()
    assert len(first["models"]) == 2
    providers = {m["provider"] for m in first["models"]}
    tiers = {gateway.services.catalog.get(m["id"]).tier for m in first["models"]}  # type: ignore[union-attr]
    assert providers == {"anthropic", "openai"} and len(tiers) == 1
    assert first["settings"]["blindMode"] is False and first["settings"]["webSearchEnabled"] is False
    ids = [r.json()["id"] for r in made]
    pinned = httpx_patch(url, key, ids[1], {"pinned": True})
    assert pinned.status_code == 200 and pinned.json()["pinned"] is True
    page = get(url, key, "/v1/arena/battles", limit=2).json()
    assert page["total"] == 3 and len(page["data"]) == 2 and page["has_more"] is True
    assert [b["id"] for b in page["data"]] == [ids[2], ids[1]]
    assert [b["id"] for b in get(url, key, "/v1/arena/battles", pinned="true").json()["data"]] == [ids[1]]
    assert get(url, key, "/v1/arena/battles", status="voted").json()["total"] == 0
    assert get(url, key, "/v1/arena/battles", status="completed").json()["total"] == 3
    gone = httpx_delete(url, key, ids[0])
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert get(url, key, f"/v1/arena/battles/{ids[0]}").status_code == 404
    assert get(url, key, "/v1/arena/battles").json()["total"] == 2
    with psycopg.connect(gateway.services.database_url) as c:
        row = c.execute("SELECT deleted_at IS NOT NULL FROM arena_battles WHERE id = %s", (ids[0],)).fetchone()
    assert row == (True,)


def httpx_patch(url: str, key: str, battle_id: str, body: dict[str, object]) -> httpx.Response:
    return httpx.patch(f"{url}/v1/arena/battles/{battle_id}", headers={"authorization": f"Bearer {key}"}, json=body)


def httpx_delete(url: str, key: str, battle_id: str) -> httpx.Response:
    return httpx.delete(f"{url}/v1/arena/battles/{battle_id}", headers={"authorization": f"Bearer {key}"})


def test_three_models_one_vote_moves_every_pair(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult
) -> None:
    models = ["claude-haiku-4-5", "gpt-5.4-mini", "gpt-4o-mini"]
    made = post(gateway.url, org.api_key, "/v1/arena/battles", {"prompt": "hi", "models": models})
    assert made.status_code == 201 and len(made.json()["responses"]) == 3
    battle_id = made.json()["id"]
    assert post(gateway.url, org.api_key, f"/v1/arena/battles/{battle_id}/vote", {"winner": 2}).status_code == 200
    mine = {r["model"]: r for r in get(gateway.url, org.api_key, "/v1/arena/rankings").json()["data"]}
    assert mine["gpt-4o-mini"]["wins"] == 1 and mine["gpt-4o-mini"]["elo_rating"] == 1532.0
    assert mine["claude-haiku-4-5"]["losses"] == 1 and mine["claude-haiku-4-5"]["elo_rating"] == 1484.0
    org_rows = get(gateway.url, org.api_key, "/v1/arena/rankings", scope="org").json()["data"]
    assert org_rows[0]["model"] == "gpt-4o-mini" and len(org_rows) == 3
    schema = httpx.get(gateway.url + "/schema/openapi.json", timeout=10).json()
    assert {"/v1/arena/battles", "/v1/arena/rankings", "/v1/arena/battles/{battle_id}/vote"} <= set(schema["paths"])
