"""Real PostgreSQL for every test that touches data.

The server is ``DATABASE_URL`` when set, else an embedded PostgreSQL started for this
run. Each run gets its own database (created here, dropped at the end); each test
starts from empty tables (``db_url`` truncates them first), so tests may commit freely
and a server running in another process sees the same data.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gateway.db.migrate import migrate

Conn = psycopg.Connection[tuple[object, ...]]

pytest_plugins = ["tests.support.fixtures"]


def _admin_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from gateway.db.embedded import start_embedded

    # Not under pytest's basetemp: every pytest session that starts on this machine (a
    # concurrent run, or the one test_schema_matches_seed starts) chmods the shared
    # /tmp/pytest-of-<user> back to 0700. As root, the embedded PostgreSQL runs as the
    # "pgserver" user, loses its data directory, and within a minute shuts down (it can
    # no longer read postmaster.pid), killing every later test. mkdtemp's folder sits
    # directly in the system temp dir, which nothing locks down; it is deleted at exit.
    pgdata = Path(tempfile.mkdtemp(prefix="gwtest-pgdata-"))
    return start_embedded(pgdata, temporary=True)


def with_dbname(url: str, dbname: str) -> str:
    """The same server URL pointed at another database."""
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


def create_database(admin_url: str) -> str:
    name = f"gwtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_dbname(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name))))


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return _admin_url()


@pytest.fixture(scope="session")
def migrated_db_url(pg_admin_url: str) -> Iterator[str]:
    url = create_database(pg_admin_url)
    migrate(url)
    yield url
    drop_database(pg_admin_url, url)


@pytest.fixture(scope="session")
def _tables(migrated_db_url: str) -> list[str]:
    with psycopg.connect(migrated_db_url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'gateway_schema_migrations' ORDER BY tablename"
        ).fetchall()
    return [str(r[0]) for r in rows]


@pytest.fixture
def db_url(migrated_db_url: str, _tables: list[str]) -> str:
    """A migrated database whose tables are empty at the start of the test."""
    if not _tables:
        return migrated_db_url
    statement = sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
        sql.SQL(", ").join(sql.Identifier(t) for t in _tables)
    )
    with psycopg.connect(migrated_db_url, autocommit=True) as conn:
        # Every table is emptied in one statement, so triggers that maintain derived
        # tables (rollups) have nothing to do: keep them from fighting the truncate.
        conn.execute("SET session_replication_role = replica")
        # A server from an earlier test may still be landing its last batch; the two can
        # deadlock on table locks, and PostgreSQL may pick the truncate as the victim.
        for attempt in range(5):
            try:
                conn.execute(statement)
                break
            except psycopg.errors.DeadlockDetected:
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
    return migrated_db_url


@pytest.fixture
def conn(db_url: str) -> Iterator[Conn]:
    """An autocommit connection to the test database."""
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


@pytest.fixture
def empty_db_url(pg_admin_url: str) -> Iterator[str]:
    """A brand-new database with nothing in it (for migration tests)."""
    url = create_database(pg_admin_url)
    yield url
    drop_database(pg_admin_url, url)
