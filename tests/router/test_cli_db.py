"""calibrate and replay over real routing_decisions rows."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import uuid

import psycopg
import pytest

from gateway.cli.router import add_router_commands, read_logged

Conn = psycopg.Connection[tuple[object, ...]]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    add_router_commands(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def _org_user(conn: Conn, slug: str) -> tuple[uuid.UUID, uuid.UUID]:
    org = uuid.uuid4()
    user = uuid.uuid4()
    conn.execute("INSERT INTO organizations (id, name, slug) VALUES (%s, %s, %s)", (org, slug, slug))
    conn.execute(
        "INSERT INTO users (id, organization_id, email, username) VALUES (%s, %s, %s, %s)",
        (user, org, f"{slug}@example.com", slug),
    )
    return org, user


def _decision(
    conn: Conn, org: uuid.UUID, user: uuid.UUID, day: str, score: int, tier: str, ok: bool, tokens: int, cost: int
) -> None:
    conn.execute(
        "INSERT INTO routing_decisions (created_at, user_id, organization_id, provider, selected_model, tier,"
        " score, confidence, request_succeeded, response_tokens, estimated_cost_millicents)"
        " VALUES (%s, %s, %s, 'anthropic', %s, %s, %s, 0.8, %s, %s, %s)",
        (dt.datetime.fromisoformat(day + "T12:00:00+00:00"), user, org, f"model-{tier}", tier, score, ok, tokens, cost),
    )


@pytest.fixture
def seeded(conn: Conn) -> tuple[uuid.UUID, uuid.UUID]:
    org_a, user_a = _org_user(conn, "acme")
    org_b, user_b = _org_user(conn, "globex")
    # acme, inside the window: scores 0..99 step 5, tiers by the cut points 30/70.
    for s in range(0, 100, 5):
        tier = "simple" if s <= 30 else "medium" if s <= 70 else "complex"
        cost = {"simple": 1, "medium": 5, "complex": 25}[tier] * 100
        _decision(conn, org_a, user_a, "2025-03-02", s, tier, s % 10 == 0 or tier != "simple", 100, cost)
    _decision(conn, org_a, user_a, "2025-04-01", 99, "complex", True, 100, 2500)  # outside the window
    _decision(conn, org_b, user_b, "2025-03-03", 50, "medium", True, 100, 500)  # other org
    return org_a, org_b


def test_read_logged_filters_by_days_and_org(db_url: str, seeded: tuple[uuid.UUID, uuid.UUID]) -> None:
    org_a, _ = seeded
    assert len(read_logged(db_url, "2025-03-01", "2025-03-31", None)) == 21
    assert len(read_logged(db_url, "2025-03-01", "2025-03-31", str(org_a))) == 20
    assert len(read_logged(db_url, "2025-03-03", "2025-03-03", None)) == 1  # --to is inclusive


def test_calibrate_over_logged_decisions(
    db_url: str, seeded: tuple[uuid.UUID, uuid.UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    org_a, _ = seeded
    argv = ["router", "calibrate", "--database-url", db_url, "--from", "2025-03-01", "--to", "2025-03-31"]
    assert run([*argv, "--org", str(org_a), "--mix", "50,30,20", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["thresholds"]["n"] == 20
    # scores 0,5,..,95: half at or below 45, 30% more up to 75.
    assert result["thresholds"]["achieved"] == {"simple": 0.5, "medium": 0.3, "complex": 0.2}
    assert result["thresholds"]["simple_max"] in range(45, 50)
    assert result["thresholds"]["medium_max"] in range(75, 80)


def test_replay_side_by_side(
    db_url: str, seeded: tuple[uuid.UUID, uuid.UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    org_a, _ = seeded
    argv = ["router", "replay", "--database-url", db_url, "--from", "2025-03-01", "--to", "2025-03-31"]
    argv += ["--org", str(org_a), "--simple-max", "30", "--medium-max", "70", "--format", "json"]
    assert run(argv) == 0
    actual, same = json.loads(capsys.readouterr().out)
    assert actual["counts"] == {"simple": 7, "medium": 8, "complex": 5} == same["counts"]
    assert same["moved"] == 0
    assert same["cost_millicents"] == actual["cost_millicents"]
    argv[-6:] = ["--simple-max", "50", "--medium-max", "90", "--format", "table"]
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert "actual" in out
    assert "simple<=50 medium<=90" in out


def test_replay_cheaper_cut_points_cost_less(
    db_url: str, seeded: tuple[uuid.UUID, uuid.UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["router", "replay", "--database-url", db_url, "--from", "2025-03-01", "--to", "2025-03-31"]
    assert run([*argv, "--simple-max", "60", "--medium-max", "95", "--format", "json"]) == 0
    actual, cheaper = json.loads(capsys.readouterr().out)
    assert cheaper["moved"] > 0
    assert cheaper["cost_millicents"] < actual["cost_millicents"]
    assert cheaper["counts"]["simple"] > actual["counts"]["simple"]


def test_replay_needs_the_window(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["router", "replay", "--database-url", "postgresql://unused"]) == 2
    assert "--from" in capsys.readouterr().err
