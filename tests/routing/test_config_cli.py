"""``gateway router-config show|set`` against the test database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gateway.accounts import BootstrapResult
from gateway.cli import main
from router.config import DEFAULT_CONFIG


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db_url: str, *argv: str
) -> tuple[int, Any]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    code = main(["router-config", *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else captured.err


def test_show_set_thresholds_and_file(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    org: BootstrapResult,
    conn: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    code, shown = run(monkeypatch, capsys, db_url, "show", "--org", "acme")
    assert code == 0 and shown["source"] == "built-in" and shown["config"]["version"] == 0

    code, saved = run(monkeypatch, capsys, db_url, "set", "--org", "Acme", "--simple-max", "5")
    assert code == 0 and saved["source"] == "organization"
    assert saved["config"]["simple_max"] == 5 and saved["config"]["medium_max"] == DEFAULT_CONFIG.medium_max
    version = saved["config"]["version"]
    assert version >= 1

    path = tmp_path / "router.json"
    path.write_text(json.dumps({"simple_max": 20, "medium_max": 70, "weights": {"code": 1.5}}))
    code, from_file = run(monkeypatch, capsys, db_url, "set", "--org", org.organization_id, "--file", str(path))
    assert code == 0 and from_file["config"]["version"] > version
    assert from_file["config"]["weights"] == {"code": 1.5}

    code, shown = run(monkeypatch, capsys, db_url, "show", "--org", "acme")
    assert shown["config"] == from_file["config"] and shown["organization_id"] == org.organization_id
    rows = conn.execute(
        "SELECT count(*) FROM gateway_router_config WHERE organization_id = %s AND created_by IS NULL",
        (org.organization_id,),
    ).fetchone()
    assert rows == (2,)
    audits = conn.execute(
        "SELECT user_id, resource_id FROM audit_events WHERE event_type = 'router_config.changed'"
    ).fetchall()
    assert audits == [("cli", org.organization_id)] * 2


def test_default_scope_and_refusals(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    org: BootstrapResult,
    conn: psycopg.Connection[Any],
) -> None:
    code, saved = run(monkeypatch, capsys, db_url, "set", "--default", "--medium-max", "80")
    assert code == 0 and saved["organization_id"] is None and saved["source"] == "default"
    code, shown = run(monkeypatch, capsys, db_url, "show", "--org", "acme")
    assert shown["source"] == "default" and shown["config"]["medium_max"] == 80

    code, err = run(monkeypatch, capsys, db_url, "set", "--org", "acme", "--simple-max", "90", "--medium-max", "80")
    assert code == 1 and "simple_max < medium_max" in err
    code, err = run(monkeypatch, capsys, db_url, "set", "--org", "acme")
    assert code == 1 and "nothing to set" in err
    code, err = run(monkeypatch, capsys, db_url, "show", "--org", "nope")
    assert code == 1 and "no organization" in err
    assert conn.execute("SELECT count(*) FROM gateway_router_config").fetchone() == (1,)
