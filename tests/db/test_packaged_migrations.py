"""A non-editable install (a built wheel, as the container image has) lists and applies every migration.

The wheel is built from a copy of the source with no checkout next to the installed package,
so the runner can only find the SQL through the package's own data. The installed
``gateway`` console script then migrates a brand-new database.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pytest

from gateway.db.migrate import MIGRATIONS_DIR

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
