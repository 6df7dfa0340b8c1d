"""A non-editable install (a built wheel, as the container image has) lists and applies every migration.

The wheel is built from a copy of the source with no checkout next to the installed package,
so the runner can only find the SQL through the package's own data. The installed
``gateway`` console script then migrates a brand-new database, and ``gateway serve`` from
the wheel alone (what the container runs) migrates another one and answers /readyz.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway.db.migrate import MIGRATIONS_DIR
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _source_names() -> list[str]:
    return sorted(p.name for p in MIGRATIONS_DIR.iterdir() if p.name.endswith(".sql"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, site dir): the project built as a wheel and installed into a directory of its own."""
    tmp = tmp_path_factory.mktemp("packaged")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("gateway", "router", "pricing"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    # No index and no isolation: the build uses the setuptools already installed, offline.
    subprocess.run(
        [
            *pip,
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "-w",
            str(tmp / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp / "dist").glob("llm_gateway-*.whl")
    site = tmp / "site"
    subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(src)  # nothing of the source tree is left to fall back on
    return wheel, site


def test_the_wheel_carries_every_migration(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as zf:
        packaged = sorted(
            Path(n).name for n in zf.namelist() if n.startswith("gateway/db/migrations/") and n.endswith(".sql")
        )
    assert packaged == _source_names()
    assert len(packaged) >= 10


def test_the_installed_command_applies_them(installed: tuple[Path, Path], empty_db_url: str) -> None:
    _, site = installed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    env |= {"PYTHONPATH": str(site), "DATABASE_URL": empty_db_url}
    # Run outside the checkout so the editable install's source tree is not on sys.path first.
    where = subprocess.run(
        [sys.executable, "-c", "import gateway.db.migrate as m; print(m.__file__); print(m.MIGRATIONS_DIR)"],
        env=env,
        cwd=site.parent,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where

    script = [str(site / "bin" / "gateway")]  # the console script the wheel installed
    done = subprocess.run([*script, "migrate"], env=env, cwd=site.parent, check=True, capture_output=True, text=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"applied": _source_names()}
    with psycopg.connect(empty_db_url) as conn:
        ledger = [r[0] for r in conn.execute("SELECT filename FROM gateway_schema_migrations ORDER BY 1")]
        assert ledger == _source_names()
        assert conn.execute("SELECT to_regclass('llm_usage') IS NOT NULL").fetchone() == (True,)
    again = subprocess.run([*script, "migrate"], env=env, cwd=site.parent, check=True, capture_output=True, text=True)
    assert json.loads(again.stdout.strip().splitlines()[-1]) == {"applied": []}


def test_the_installed_server_migrates_and_becomes_ready(
    installed: tuple[Path, Path], empty_db_url: str, tmp_path: Path
) -> None:
    """What the container runs: ``gateway serve`` from the wheel alone, up to a 200 on /readyz."""
    _, site = installed
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PYTHONPATH", "DATABASE_URL"))}
    env |= {
        "PYTHONPATH": str(site),
        "PYTHONDONTWRITEBYTECODE": "1",  # as in the image, whose root filesystem is read-only
        "DATABASE_URL": empty_db_url,
        "GATEWAY_PORT": str(port),
        "GATEWAY_SIMULATOR": "on",
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
    }
    log = tmp_path / "serve.log"
    before = _tree(site)
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(site / "bin" / "gateway"), "serve"], env=env, cwd=tmp_path, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert ready.json()["status"] == "ready"
    finally:
        server.terminate()
        server.wait(30)
    assert _tree(site) == before, "the server wrote into the installed package (the image's root is read-only)"


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}
