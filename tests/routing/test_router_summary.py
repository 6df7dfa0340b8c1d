"""``GET /v1/router/summary`` against decision rows this test writes itself."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from gateway.accounts import BootstrapResult
from gateway.catalog import Catalog
from router.complexity import COMPLEXITIES
from tests.routing.conftest import add_user
from tests.support.server import GatewayServer


def _auto_models() -> dict[str, str]:
    """The built-in catalog's Anthropic AUTO pick per class (the decision rows below are Anthropic's)."""
    catalog = Catalog.with_overrides([])
    picks = {c: catalog.for_complexity("anthropic", c) for c in COMPLEXITIES}
    models: dict[str, str] = {c: m.id for c, m in picks.items() if m is not None}
    assert len(set(models.values())) == len(COMPLEXITIES), models  # one distinct model per class
    return models


MODEL_FOR = _auto_models()
MARCH = datetime(2025, 3, 1, tzinfo=UTC)


def _insert(conn: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> None:
    for r in rows:
        conn.execute(
            "INSERT INTO routing_decisions (created_at, user_id, organization_id, provider, conversation_turn, "
            "selected_model, tier, score, confidence, reasoning, query_length, request_succeeded, response_tokens, "
            "estimated_cost_millicents, request_id, config_version) "
            "VALUES (%s, %s, %s, 'anthropic', 1, %s, %s, %s, %s, 'r', 10, %s, %s, %s, %s, 1)",
            (
                r["at"],
                r["user"],
                r["org"],
                r["model"],
                r["tier"],
                r["score"],
                r["confidence"],
                r["ok"],
                r["out"],
                r["cost"],
                r["request_id"],
            ),
        )
        if r["input"] is not None:
            prompt, write, read = r["input"]
            conn.execute(
                "INSERT INTO llm_usage (organization_id, user_id, model, prompt_tokens, completion_tokens, "
                "total_tokens, cache_creation_tokens, cache_read_tokens, estimated_cost_millicents, created_at, "
                "request_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    r["org"],
                    r["user"],
                    r["model"],
                    prompt,
                    r["out"] or 0,
                    prompt + write + read + (r["out"] or 0),
                    write,
                    read,
                    r["cost"] or 0,
                    r["at"],
                    r["request_id"],
                ),
            )


def _rows(rng: random.Random, org: str, users: list[str], n: int, start: datetime, days: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        tier = rng.choice(["simple", "medium", "complex"])
        fallback = tier == "complex" and rng.random() < 0.3
        ok = rng.choice([True, True, True, False, None])
        out.append(
            {
                "at": start + timedelta(seconds=rng.randrange(days * 86400)),
                "user": rng.choice(users),
                "org": org,
                "tier": tier,
                # A complex request the caller's tiers sent down to the medium class's model.
                "model": MODEL_FOR["medium"] if fallback else MODEL_FOR[tier],
                "score": rng.choice([0, 9, 10, 55, 99, 100, rng.randrange(101)]),
                "confidence": round(rng.uniform(0.5, 1.0), 3),
                "ok": ok,
                "out": None if ok is None else rng.randrange(0, 500),
                "cost": None if ok is None else rng.randrange(0, 10_000),
                "request_id": str(uuid.uuid4()),
                "input": (rng.randrange(100), rng.randrange(20), rng.randrange(50)) if rng.random() < 0.6 else None,
            }
        )
    return out


def _expected(rows: list[dict[str, Any]]) -> dict[str, Any]:
    tiers = {}
    for t in ("simple", "medium", "complex"):
        mine = [r for r in rows if r["tier"] == t]
        ok = sum(1 for r in mine if r["ok"] is True)
        bad = sum(1 for r in mine if r["ok"] is False)
        tiers[t] = {
            "requests": len(mine),
            "succeeded": ok,
            "failed": bad,
            "success_rate": round(ok / (ok + bad), 4) if ok + bad else None,
            "response_tokens": sum(r["out"] or 0 for r in mine),
            "input_tokens": sum(sum(r["input"]) for r in mine if r["input"] is not None),
            "cost_millicents": sum(r["cost"] or 0 for r in mine),
            "fallbacks": sum(1 for r in mine if r["model"] != MODEL_FOR[t]),
            "share": round(len(mine) / len(rows), 4),
            "models": dict(Counter(r["model"] for r in mine)),
        }
    hist = Counter(min(r["score"] // 10, 9) for r in rows)
    return {"tiers": tiers, "histogram": [hist.get(b, 0) for b in range(10)]}


def _check(got: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    want = _expected(rows)
    assert got["requests"] == len(rows)
    by_tier = {t["tier"]: t for t in got["tiers"]}
    assert set(by_tier) == {"simple", "medium", "complex"}
    for tier, expected in want["tiers"].items():
        for key, value in expected.items():
            assert by_tier[tier][key] == value, (tier, key)
        assert by_tier[tier]["cost_usd"] == round(expected["cost_millicents"] / 100_000, 5)
    assert [b["count"] for b in got["score_histogram"]] == want["histogram"]
    assert [(b["low"], b["high"]) for b in got["score_histogram"]][-1] == (90, 100)
    assert got["cost_millicents"] == sum(t["cost_millicents"] for t in want["tiers"].values())
    assert got["response_tokens"] == sum(t["response_tokens"] for t in want["tiers"].values())
    assert got["fallbacks"] == sum(t["fallbacks"] for t in want["tiers"].values())
    ok = sum(t["succeeded"] for t in want["tiers"].values())
    bad = sum(t["failed"] for t in want["tiers"].values())
    assert got["success_rate"] == round(ok / (ok + bad), 4)


def test_summary_scopes_and_numbers(
    router_gw: GatewayServer, org: BootstrapResult, db_url: str, conn: psycopg.Connection[Any]
) -> None:
    member = add_user(db_url, "Acme", "member@acme.test", "member")
    finance = add_user(db_url, "Acme", "finance@acme.test", "finance")
    other = add_user(db_url, "Globex", "owner@globex.test", "owner")
    rng = random.Random(20250301)
    inside = _rows(rng, org.organization_id, [org.user_id, member.user_id], 60, MARCH, 31)
    edges = _rows(rng, org.organization_id, [member.user_id], 2, MARCH, 1)
    edges[0]["at"], edges[1]["at"] = MARCH, datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC)
    outside = _rows(rng, org.organization_id, [org.user_id, member.user_id], 6, MARCH - timedelta(days=10), 10)
    outside += _rows(rng, org.organization_id, [member.user_id], 3, datetime(2025, 4, 1, tzinfo=UTC), 1)
    foreign = _rows(rng, other.organization_id, [other.user_id], 10, MARCH, 31)
    _insert(conn, inside + edges + outside + foreign)
    in_period = inside + edges
    assert any(r["model"] != MODEL_FOR[r["tier"]] for r in in_period)  # the data exercises fallbacks

    url = router_gw.url + "/v1/router/summary?from=2025-03-01&to=2025-03-31"
    for who in (org, finance):
        got = httpx.get(url, headers={"authorization": f"Bearer {who.api_key}"})
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["user_id"] is None and body["organization_id"] == org.organization_id
        _check(body, in_period)
    mine = httpx.get(url, headers={"authorization": f"Bearer {member.api_key}"}).json()
    assert mine["user_id"] == member.user_id
    _check(mine, [r for r in in_period if r["user"] == member.user_id])
    theirs = httpx.get(url, headers={"authorization": f"Bearer {other.api_key}"}).json()
    _check(theirs, foreign)


def test_summary_empty_and_bad_period(router_gw: GatewayServer, org: BootstrapResult) -> None:
    h = {"authorization": f"Bearer {org.api_key}"}
    empty = httpx.get(router_gw.url + "/v1/router/summary", headers=h).json()
    assert empty["requests"] == 0 and empty["success_rate"] is None
    assert [t["share"] for t in empty["tiers"]] == [0.0, 0.0, 0.0]
    assert sum(b["count"] for b in empty["score_histogram"]) == 0
    assert httpx.get(router_gw.url + "/v1/router/summary?from=March", headers=h).status_code == 400
    r = httpx.get(router_gw.url + "/v1/router/summary?from=2025-04-01&to=2025-03-01", headers=h)
    assert r.status_code == 400 and "before" in r.json()["error"]["message"]
    assert httpx.get(router_gw.url + "/v1/router/summary").status_code == 401


def test_cascade_share_is_folded_into_the_summary() -> None:
    from gateway.routing.summary import build_summary, cascade_share

    now = datetime(2026, 1, 2, tzinfo=UTC)
    kw: dict[str, Any] = {"organization_id": "o", "user_id": None, "start": now - timedelta(days=1), "end": now}
    got = build_summary([], [], lambda _m: None, cascade=(4, 1), **kw).cascade
    assert (got.decisions, got.escalated, got.accepted, got.escalation_share) == (4, 1, 3, 0.25)
    none = build_summary([], [], lambda _m: None, **kw).cascade
    assert (none.decisions, none.escalation_share) == (0, None)
    assert cascade_share(0, 0).escalation_share is None
