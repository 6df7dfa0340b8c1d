"""The migration runner on real databases: apply, re-run, refuse edits, report, race.

``gateway migrate`` must be idempotent and safe to run from several replicas at once
(CONTRACT.md), so these tests run it twice, concurrently, and against a tampered copy of
the migrations, on brand-new databases.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gateway.db.migrate import MIGRATIONS_DIR, MigrationError, discover, migrate, status

SEED_TABLES = frozenset({
    "organizations", "users", "user_id_mappings", "org_memberships", "groups",
    "group_memberships", "spaces", "conversations", "llm_usage", "routing_decisions",
    "email_logs", "audit_events", "arena_battles", "arena_battle_models", "model_rankings",
})  # fmt: skip


def _names() -> list[str]:
    return [m.name for m in discover()]


def _copy_migrations(target: Path, names: list[str] | None = None) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in MIGRATIONS_DIR.iterdir():
        if path.name.endswith(".sql") and (names is None or path.name in names):
            (target / path.name).write_bytes(path.read_bytes())
    return target


def _snapshot(url: str) -> dict[str, Any]:
    """Everything a re-run could change: the ledger, columns, indexes and constraints."""
    with psycopg.connect(url) as conn:
        return {
            "ledger": conn.execute(
                "SELECT filename, checksum, applied_at FROM gateway_schema_migrations ORDER BY filename"
            ).fetchall(),
            "columns": conn.execute(
                "SELECT table_name, column_name, ordinal_position, data_type, is_nullable, column_default"
                " FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 3"
            ).fetchall(),
            "indexes": conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall(),
            "constraints": conn.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
            ).fetchall(),
        }


def test_migration_files_are_named_for_ordering() -> None:
    names = _names()
    assert names, "no migrations found"
    assert all(n[:4].isdigit() and n[4] == "_" for n in names), names
    assert len({n[:4] for n in names}) == len(names), "two migrations share a number"
    assert [n for n in names if n < "0100"], "the seed migrations (0001-0099) are missing"


def test_every_migration_applies_on_an_empty_database(empty_db_url: str) -> None:
    assert migrate(empty_db_url) == _names()
    with psycopg.connect(empty_db_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert tables >= SEED_TABLES
        assert status(conn) == []


def test_rerun_applies_nothing_and_changes_nothing(empty_db_url: str) -> None:
    migrate(empty_db_url)
    before = _snapshot(empty_db_url)
    assert migrate(empty_db_url) == []
    assert _snapshot(empty_db_url) == before


def test_edited_migration_is_refused(empty_db_url: str, tmp_path: Path) -> None:
    directory = _copy_migrations(tmp_path / "migrations")
    migrate(empty_db_url, directory)
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n-- edited after apply\n", encoding="utf-8")
    with psycopg.connect(empty_db_url) as conn:
        assert status(conn, directory) == [first.name]
    with pytest.raises(MigrationError, match=re.escape(first.name)):
        migrate(empty_db_url, directory)


def test_status_reports_pending_files(empty_db_url: str, tmp_path: Path) -> None:
    names = _names()
    with psycopg.connect(empty_db_url) as conn:
        assert status(conn) == names  # no ledger table yet: everything is pending
    applied = migrate(empty_db_url, _copy_migrations(tmp_path / "first", names[:3]))
    assert applied == names[:3]
    with psycopg.connect(empty_db_url) as conn:
        assert status(conn) == names[3:]
    assert migrate(empty_db_url) == names[3:]


def test_failed_migration_leaves_no_trace(empty_db_url: str, tmp_path: Path) -> None:
    directory = _copy_migrations(tmp_path / "migrations")
    broken = directory / "9999_broken.sql"
    broken.write_text("CREATE TABLE half_done (id INT);\nSELECT no_such_function();\n", encoding="utf-8")
    with pytest.raises(MigrationError, match=re.escape(broken.name)):
        migrate(empty_db_url, directory)
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)
        assert status(conn, directory) == [broken.name]


def test_concurrent_migrations_apply_each_file_once(empty_db_url: str) -> None:
    start = threading.Barrier(2)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            results.append(migrate(empty_db_url))
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == 2
    assert sorted(results[0] + results[1]) == sorted(_names()), results
    with psycopg.connect(empty_db_url) as conn:
        counts = conn.execute(
            "SELECT filename, count(*) FROM gateway_schema_migrations GROUP BY filename ORDER BY filename"
        ).fetchall()
    assert counts == [(n, 1) for n in _names()]
