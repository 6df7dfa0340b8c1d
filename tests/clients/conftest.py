"""Where the real clients are: installed from ``tests/clients/package-lock.json`` by ``make clients``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CLIENTS_DIR = Path(__file__).parent
NODE_MODULES = CLIENTS_DIR / "node_modules"


def client_bin(name: str) -> Path:
    """The installed executable ``name``, or a skip saying how to get it."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed on this machine, so the real-client tests cannot run")
    path = NODE_MODULES / ".bin" / name
    if not path.exists():
        pytest.skip(f"{name} is not installed: run `make clients` (npm ci in tests/clients)")
    return path


def quiet_env(home: Path, **extra: str) -> dict[str, str]:
    """A minimal environment for an agent: its own HOME, no telemetry, no update checks."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "CI": "1",
    }
    env.update(extra)
    return env


def run_client(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )
