"""The gateway under test: a fresh database, migrations, a bootstrap key, one worker.

The gateway runs as it would in production (auth checked, usage written to a real
PostgreSQL), pointed at the mock upstream for both providers. The database is
``DATABASE_URL``'s server when set, else the embedded PostgreSQL in
``.gateway/bench/pgdata``; either way the run gets a database of its own, dropped at the end,
and an embedded server this run had to start is stopped again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import msgspec
import psycopg
from psycopg import sql

from tests.perf.procs import Child, Children, free_port, wait_http_ok

_CLI_TIMEOUT_S = 120.0
_READY_TIMEOUT_S = 60.0


class Bootstrap(msgspec.Struct):
    """The JSON line ``gateway bootstrap`` prints."""

    organization_id: str
    user_id: str
    api_key: str


class BenchDatabase:
    """A database created for one run; ``close`` drops it and stops a server it started."""

    def __init__(self, pgdata: Path) -> None:
        self._pgdata = pgdata
        self._started_pid: int | None = None
        admin = os.environ.get("DATABASE_URL")
        if not admin:
            pidfile = pgdata / "postmaster.pid"
            was_running = pidfile.exists()
            from gateway.db.embedded import start_embedded

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # platformdirs, harmless
                admin = start_embedded(pgdata)
            if not was_running and pidfile.exists():
                self._started_pid = int(pidfile.read_text().split()[0])
        self.admin_url = admin
        name = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.url = psycopg.conninfo.make_conninfo(admin, dbname=name)
        self._name = name

    def usage_rows(self) -> int | None:
        """Rows in ``llm_usage``: proof that usage writing was on (read after the gateway drained)."""
        try:
            with psycopg.connect(self.url) as conn:
                row = conn.execute("SELECT count(*) FROM llm_usage").fetchone()
        except psycopg.Error:
            return None
        return int(row[0]) if row else None

    def close(self) -> None:
        """Drop the run's database; stop the embedded server if this run started it."""
        try:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self._name)))
        except psycopg.Error as exc:
            print(f"note: could not drop {self._name}: {exc}", file=sys.stderr)
        if self._started_pid is not None:
            _stop_postmaster(self._started_pid)


def _stop_postmaster(pid: int) -> None:
    """Fast shutdown (SIGINT) of the postmaster this run started; wait up to 30 s."""
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def _gateway_exe() -> Path:
    return Path(sys.executable).parent / "gateway"


def _env(db_url: str, mock_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db_url,
            # A data dir (write spool) per run: a spool left by another run's database must
            # never be replayed into this one.
            "GATEWAY_DATA_DIR": tempfile.mkdtemp(prefix="gw-bench-"),
            "OPENAI_BASE_URL": f"http://127.0.0.1:{mock_port}/v1",
            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{mock_port}",
            "OPENAI_API_KEY": "bench",
            "ANTHROPIC_API_KEY": "bench",
            "GATEWAY_SIMULATOR": "off",
        }
    )
    return env


def _cli(args: list[str], env: dict[str, str], cwd: Path, exe: Path | None = None) -> str:
    cmd = [str(exe or _gateway_exe()), *args]
    try:
        proc = subprocess.run(
            cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=_CLI_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"`gateway {' '.join(args)}` failed: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-1200:]
        raise RuntimeError(f"`gateway {' '.join(args)}` exited {proc.returncode}:\n{tail}")
    return proc.stdout


def start(
    children: Children,
    db: BenchDatabase,
    port: int,
    mock_port: int,
    cores: frozenset[int] | None,
    cwd: Path,
    *,
    bootstrap_args: list[str] | None = None,
    name: str = "gateway",
    extra_env: dict[str, str] | None = None,
    key_args: list[str] | None = None,
    setup: list[list[str]] | None = None,
    exe: Path | None = None,
    ready_timeout_s: float = _READY_TIMEOUT_S,
) -> tuple[Child, str]:
    """Migrate, bootstrap an org and key, serve one worker; return the child and its API key.

    ``extra_env`` adds settings (e.g. ``GATEWAY_RESILIENCE=off``, a ``GATEWAY_CONFIG``); ``key_args``: the
    load uses a second key made by ``gateway keys create`` with these options (e.g. rate limits and a
    key budget); ``setup``: further ``gateway`` commands run before serving; ``exe``: another
    checkout's ``gateway`` command (the bench's ``--baseline``), run from ``cwd``;
    ``ready_timeout_s``: how long ``/healthz`` may take to answer (longer under valgrind).
    """
    env = {**_env(db.url, mock_port), **(extra_env or {})}
    _cli(["migrate"], env, cwd, exe)
    out = _cli(["bootstrap", "--org", "bench", "--email", "bench@example.com", *(bootstrap_args or [])], env, cwd, exe)
    line = next((ln for ln in reversed(out.splitlines()) if ln.lstrip().startswith("{")), None)
    if line is None:
        raise RuntimeError(f"`gateway bootstrap` printed no JSON line: {out[-500:]!r}")
    key = msgspec.json.decode(line, type=Bootstrap).api_key
    if key_args is not None:
        out = _cli(["keys", "create", "--email", "bench@example.com", "--org", "bench", *key_args], env, cwd, exe)
        key = msgspec.json.decode(out.strip().splitlines()[-1], type=Bootstrap).api_key
    for args in setup or []:
        _cli(args, env, cwd, exe)
    cmd = [str(exe or _gateway_exe()), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    child = children.start(name, cmd, cores=cores, env=env, cwd=cwd)
    wait_http_ok(child, "127.0.0.1", port, "/healthz", ready_timeout_s)
    return child, key


def start_mock(children: Children, cores: frozenset[int] | None, cwd: Path) -> tuple[Child, int]:
    """The mock upstream the gateways forward to, ready; its child and port."""
    port = free_port()
    mock = children.start(
        "mock", [sys.executable, "-m", "tests.perf.mock_upstream", "--port", str(port)], cores=cores, cwd=cwd
    )
    wait_http_ok(mock, "127.0.0.1", port, "/health", 15)
    return mock, port
