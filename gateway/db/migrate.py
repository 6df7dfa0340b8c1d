"""Forward-only SQL migrations.

Files in ``gateway/db/migrations/`` are applied in name order, each in its own transaction,
and recorded with a checksum. They ship inside the package (package data, read through
``importlib.resources``), so a non-editable install such as the container image migrates
with no checkout beside it. An advisory lock serialises replicas that start at once; an
applied file whose text changed is refused rather than silently skipped, because the
database would no longer match what the repository says it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import psycopg

# The installed package's own copy; tests pass other directories (any Traversable or Path).
MIGRATIONS_DIR: Traversable = files("gateway.db") / "migrations"
# Arbitrary constant shared by every replica: "gw-migr" in ASCII.
_ADVISORY_LOCK_KEY = 0x67772D6D696772
_LEDGER = "gateway_schema_migrations"


class MigrationError(RuntimeError):
    """The migrations cannot be applied as the repository describes them."""


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Traversable = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files, in the order they apply.

    Raises:
        MigrationError: If the directory holds no migration, e.g. an install built without
            its package data; serving an empty schema would fail later and less clearly.
    """
    found = sorted((p for p in directory.iterdir() if p.name.endswith(".sql") and p.is_file()), key=lambda p: p.name)
    if not found:
        raise MigrationError(f"no migrations found in {directory}; is the package installed with its data?")
    return [Migration(p.name, p.read_text(encoding="utf-8")) for p in found]


def _ensure_ledger(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {_LEDGER} (
            filename TEXT PRIMARY KEY,
            checksum TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
        )"""
    )
    conn.commit()


def status(conn: psycopg.Connection[tuple[object, ...]], directory: Traversable = MIGRATIONS_DIR) -> list[str]:
    """Names of migrations not yet applied, or applied with different text. Empty when current."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (_LEDGER,)).fetchone()
    applied: dict[str, str] = {}
    if exists and exists[0]:
        applied = {str(n): str(c) for n, c in conn.execute(f"SELECT filename, checksum FROM {_LEDGER}")}
    return [m.name for m in discover(directory) if applied.get(m.name) != m.checksum]


def migrate(
    url: str,
    directory: Traversable = MIGRATIONS_DIR,
    *,
    lock_timeout: str = "15s",
    statement_timeout: str = "10min",
) -> list[str]:
    """Apply pending migrations; return the names applied (empty when already current)."""
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        # Session-level lock: held across the per-file transactions below. Waiting for it is
        # unbounded (another replica may be running a long migration); the timeouts below
        # bound each migration's own statements and table locks.
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_KEY,))
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (statement_timeout,))
        try:
            conn.autocommit = False
            _ensure_ledger(conn)
            done = {str(n): str(c) for n, c in conn.execute(f"SELECT filename, checksum FROM {_LEDGER}")}
            conn.commit()
            for m in discover(directory):
                if m.name in done:
                    if done[m.name] != m.checksum:
                        raise MigrationError(
                            f"migration {m.name} was edited after it was applied "
                            "(checksum differs); add a new migration instead"
                        )
                    continue
                try:
                    conn.execute(m.sql.encode())
                    conn.execute(
                        f"INSERT INTO {_LEDGER} (filename, checksum) VALUES (%s, %s)",
                        (m.name, m.checksum),
                    )
                    conn.commit()
                except psycopg.Error as exc:
                    conn.rollback()
                    raise MigrationError(f"migration {m.name} failed: {exc}") from exc
                applied_now.append(m.name)
        finally:
            conn.rollback()
            conn.autocommit = True
            conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_KEY,))
    return applied_now
