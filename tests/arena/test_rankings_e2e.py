"""Rankings through the running gateway: each user's own table, the organization's over everyone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gateway.accounts import BootstrapResult
from tests.arena.helpers import get, post
from tests.policy.helpers import Conn, add_user
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer

PAIR = ["claude-sonnet-5", "gpt-5.4"]


def _battle_and_vote(url: str, key: str, winner: str) -> None:
    made = post(url, key, "/v1/arena/battles", {"prompt": "hi", "models": PAIR})
    assert made.status_code == 201, made.text
    voted = post(url, key, f"/v1/arena/battles/{made.json()['id']}/vote", {"winner": winner})
    assert voted.status_code == 200, voted.text


def test_user_tables_are_own_and_the_org_fit_counts_everyone(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    url = gateway.url
    _bob, bob_key = add_user(conn, org.organization_id, "bob@acme.test", "member")
    for _ in range(3):
        _battle_and_vote(url, org.api_key, "gpt-5.4")
    _battle_and_vote(url, bob_key, "claude-sonnet-5")
    _battle_and_vote(url, bob_key, "tie")

    org_table = get(url, bob_key, "/v1/arena/rankings", scope="org").json()
    assert org_table["votes"] == 5
    rows = {r["model"]: r for r in org_table["data"]}
    assert (rows["gpt-5.4"]["wins"], rows["gpt-5.4"]["losses"], rows["gpt-5.4"]["ties"]) == (3, 1, 1)
    assert org_table["data"][0]["model"] == "gpt-5.4"

    owner = {r["model"]: r for r in get(url, org.api_key, "/v1/arena/rankings").json()["data"]}
    bob = {r["model"]: r for r in get(url, bob_key, "/v1/arena/rankings", scope="me").json()["data"]}
    assert owner["gpt-5.4"]["wins"] == 3 and owner["claude-sonnet-5"]["losses"] == 3
    assert bob["claude-sonnet-5"]["wins"] == 1 and bob["claude-sonnet-5"]["ties"] == 1 and bob["gpt-5.4"]["wins"] == 0
    # Bob's own Elo says claude is better; with two votes his table still leans to the organization's.
    assert bob["claude-sonnet-5"]["elo_rating"] > bob["gpt-5.4"]["elo_rating"]
    assert bob["gpt-5.4"]["rating"] > bob["gpt-5.4"]["elo_rating"]
    assert bob["claude-sonnet-5"]["votes"] == 2
    stored = conn.execute(
        "SELECT user_id, model_id, total_battles, user_uuid::text = user_id FROM model_rankings ORDER BY 1, 2"
    ).fetchall()
    assert len(stored) == 4 and all(r[3] for r in stored)


def test_two_votes_at_once_only_one_lands(gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult) -> None:
    made = post(gateway.url, org.api_key, "/v1/arena/battles", {"prompt": "hi", "models": PAIR}).json()
    path = f"/v1/arena/battles/{made['id']}/vote"
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda w: post(gateway.url, org.api_key, path, {"winner": w}), [0, 1, "tie", 0]))
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
    mine = get(gateway.url, org.api_key, "/v1/arena/rankings").json()["data"]
    assert sum(r["votes"] for r in mine) == 2  # one vote, two models
