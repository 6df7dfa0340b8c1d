"""Labels from traffic and trained models in the database, end to end through the running gateway.

- ``POST /v1/feedback`` on the caller's own requests (and clear 4xx otherwise);
- a model trained with ``gateway router train --save`` that the router config points at,
  picked up by AUTO in another process;
- ``GET /v1/router/summary`` reporting the labeled traffic's figures, and ``--from-db`` training.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import httpx
import openai
import psycopg
import pytest

from gateway.accounts import BootstrapResult
from gateway.cli.router import add_router_commands
from tests.routing.conftest import add_user
from tests.routing.helpers import decision_row
from tests.support.server import GatewayServer

HARD = "prove the theorem about the integral with a rigorous argument"
EASY = "hello thanks for lunch"
WEAK_MISS = "name the capital of peru"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ask(gw: GatewayServer, key: str, prompt: str) -> str:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": prompt}])
    return str(raw.headers["x-request-id"])


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_router_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_feedback_on_own_requests_only(router_gw: GatewayServer, org: BootstrapResult, db_url: str) -> None:
    request_id = ask(router_gw, org.api_key, EASY)
    other = ask(router_gw, org.api_key, HARD)
    router_gw.flush()
    assert decision_row(db_url, request_id)["query_length"] == len(EASY)
    url = router_gw.url + "/v1/feedback"
    r = httpx.post(url, headers=auth(org.api_key), json={"request_id": request_id, "rating": -1})
    assert r.status_code == 201, r.text
    assert r.json()["rating"] == -1
    # A second label replaces the first: one row per (user, request).
    r = httpx.post(url, headers=auth(org.api_key), json={"request_id": request_id, "preferred_request_id": other})
    assert r.status_code == 201, r.text
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT rating, preferred_request_id::text FROM gateway_router_feedback WHERE request_id = %s",
            (request_id,),
        ).fetchall()
        kept = conn.execute("SELECT query_text FROM routing_decisions WHERE request_id = %s", (request_id,)).fetchone()
    assert rows == [(None, other)]
    assert kept == (EASY,)
    stranger = add_user(db_url, "another-org", "stranger@example.com", "member")
    r = httpx.post(url, headers=auth(stranger.api_key), json={"request_id": request_id, "rating": 1})
    assert r.status_code == 404 and r.json()["error"]["code"] == "request_not_found"
    for body, param in [
        ({"request_id": request_id}, "rating"),
        ({"request_id": request_id, "rating": 2}, "rating"),
        ({"request_id": request_id, "rating": True}, "rating"),
        ({"request_id": "nope", "rating": 1}, "request_id"),
        ({"request_id": request_id, "rating": 1, "preferred_request_id": other}, "rating"),
        ({"request_id": request_id, "preferred_request_id": request_id}, "preferred_request_id"),
        ({"request_id": request_id, "rating": 1, "extra": 1}, "extra"),
    ]:
        r = httpx.post(url, headers=auth(org.api_key), json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["param"] == param
    r = httpx.post(url, headers=auth(org.api_key), content=b"not json")
    assert r.status_code == 400
    assert httpx.post(url, json={"request_id": request_id, "rating": 1}).status_code == 401


def _training_file(path: Path) -> None:
    rng = random.Random(0)
    lines = []
    for i in range(200):
        hard = rng.random() < 0.4
        prompt = (HARD if hard else EASY) + " " + rng.choice(["alpha", "beta", "gamma"])
        lines.append(
            json.dumps(
                {
                    "id": str(i),
                    "source": "ab"[i % 2],
                    "prompt": prompt,
                    "weak_correct": not hard,
                    "strong_correct": True,
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")


def test_stored_model_scores_auto_in_every_process(
    router_gw: GatewayServer, second_gw: GatewayServer, org: BootstrapResult, db_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "train.jsonl"
    _training_file(data)
    model = tmp_path / "tiny.json"
    args = ["router", "train", "--data", str(data), "--out", str(model), "--cv", "0", "--bits", "12"]
    assert cli(*args, "--iterations", "60", "--save", "--database-url", db_url, "--org", org.organization_id) == 0
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT id::text FROM gateway_router_models WHERE organization_id = %s", (org.organization_id,)
        ).fetchone()
    assert row is not None
    model_id = row[0]
    # Another organization cannot point its configuration at this model.
    stranger = add_user(db_url, "model-stranger", "ms@example.com", "owner")
    config = httpx.get(router_gw.url + "/v1/router/config", headers=auth(org.api_key)).json()
    bad = httpx.put(
        router_gw.url + "/v1/router/config", headers=auth(stranger.api_key), json={**config, "model_id": model_id}
    )
    assert bad.status_code == 400 and "model_id" in bad.text
    put = httpx.put(
        router_gw.url + "/v1/router/config", headers=auth(org.api_key), json={**config, "model_id": model_id}
    )
    assert put.status_code == 200, put.text
    # The second process hears of the new version through NOTIFY and scores with the model.
    hard_id = ask(second_gw, org.api_key, HARD + " alpha")
    easy_id = ask(second_gw, org.api_key, EASY + " beta")
    second_gw.flush()
    hard, easy = decision_row(db_url, hard_id), decision_row(db_url, easy_id)
    assert "learned model tiny" in hard["reasoning"]
    assert hard["score"] > easy["score"]
    assert hard["config_version"] == put.json()["version"]


def test_summary_and_from_db_training_use_labeled_traffic(
    router_gw: GatewayServer, org: BootstrapResult, db_url: str, tmp_path: Path
) -> None:
    url = router_gw.url + "/v1/feedback"
    rng = random.Random(1)
    # Both prompts land on the simple tier, so each rating is a label about the weak side.
    asked = [
        (i % 2 == 0, ask(router_gw, org.api_key, (WEAK_MISS if i % 2 == 0 else EASY) + f" {rng.random():.3f}"))
        for i in range(40)
    ]
    router_gw.flush()
    for hard, request_id in asked:
        # Answers to the hard prompts are rated down, the others up (a complex-tier +1 says
        # nothing about the weak side and is not a label, so count only what is one).
        r = httpx.post(url, headers=auth(org.api_key), json={"request_id": request_id, "rating": -1 if hard else 1})
        assert r.status_code == 201, r.text
    summary = httpx.get(router_gw.url + "/v1/router/summary", headers=auth(org.api_key), timeout=120).json()
    labeled = summary["labeled"]
    assert labeled["labels"] >= 20, labeled
    assert set(labeled["current"]) == {"current", "length", "random"}
    low, value, high = (labeled["current"]["current"]["apgr"][i] for i in (1, 0, 2))
    assert low <= value <= high
    assert len(labeled["curve"]) == 11 and labeled["curve"][0]["strong_share"] == 0.0
    assert "kfold" in labeled["heldout"]
    out = tmp_path / "from-db.json"
    argv = ["router", "train", "--from-db", "--database-url", db_url, "--org", org.organization_id]
    assert cli(*argv, "--out", str(out), "--cv", "0", "--bits", "12", "--iterations", "20") == 0
    trained = json.loads(out.read_text())
    assert trained["training"]["sources"].get("feedback", 0) >= 20


@pytest.mark.parametrize("bad", [{"simple_max": 1, "medium_max": 2, "weights": {}, "model_id": "x"}])
def test_config_refuses_malformed_model_id(
    router_gw: GatewayServer, org: BootstrapResult, bad: dict[str, object]
) -> None:
    r = httpx.put(router_gw.url + "/v1/router/config", headers=auth(org.api_key), json=bad)
    assert r.status_code == 400 and "model_id" in r.text
