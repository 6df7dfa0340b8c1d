"""The peer: LiteLLM's proxy on the same mock upstream, in a venv of its own.

``litellm[proxy]==1.100.5`` pins packages that conflict with the project's, so it lives in
``.gateway/bench/litellm-venv``, created on the first run (about half a minute here).
It runs with one worker, no database, ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (no price-map
download at import), and a master key so that, like the gateway, it authenticates every
request. When it cannot be installed the run goes on without it and says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.perf.procs import Child, Children, log_tail, wait_http_ok

LITELLM_SPEC = "litellm[proxy]==1.100.5"
MASTER_KEY = "sk-bench-litellm"
_INSTALL_TIMEOUT_S = 900.0
_READY_TIMEOUT_S = 180.0  # importing the proxy takes tens of seconds on this machine
# Variables that would make the peer reach for a database or the network.
_DROPPED_ENV = ("DATABASE_URL", "LITELLM_MASTER_KEY", "STORE_MODEL_IN_DB", "REDIS_HOST", "REDIS_URL")


def ensure_installed(venv: Path) -> Path:
    """The ``litellm`` executable in ``venv``, creating the venv first when needed.

    Raises:
        RuntimeError: when the venv cannot be created or the package does not install.
    """
    exe = venv / "bin" / "litellm"
    marker = venv / f".installed-{LITELLM_SPEC}"
    if exe.exists() and marker.exists():
        return exe
    log = venv.parent / "litellm-install.log"
    venv.parent.mkdir(parents=True, exist_ok=True)
    print(f"installing {LITELLM_SPEC} into {venv} (first run only; log: {log}) ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", LITELLM_SPEC],
    ]
    with log.open("wb") as out:
        for step in steps:
            try:
                code = subprocess.run(
                    step, stdout=out, stderr=subprocess.STDOUT, timeout=_INSTALL_TIMEOUT_S, check=False
                ).returncode
            except subprocess.TimeoutExpired:
                code = -1
            if code != 0:
                raise RuntimeError(f"`{' '.join(step[-2:])}` failed ({code}):\n{log_tail(log, 800)}")
    if not exe.exists():
        raise RuntimeError(f"{exe} missing after install")
    marker.touch()
    return exe


def write_config(path: Path, mock_port: int) -> Path:
    """A proxy config routing both benchmark models to the mock upstream."""
    path.write_text(
        f"""model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{mock_port}/v1
      api_key: bench
  - model_name: claude-haiku-4-5
    litellm_params:
      model: anthropic/claude-haiku-4-5
      api_base: http://127.0.0.1:{mock_port}
      api_key: bench
litellm_settings:
  drop_params: true
  telemetry: false
general_settings:
  master_key: {MASTER_KEY}
"""
    )
    return path


def start(
    children: Children, exe: Path, workdir: Path, port: int, mock_port: int, cores: frozenset[int] | None
) -> Child:
    """Start the LiteLLM proxy with one worker and wait until it answers its liveness probe."""
    config = write_config(workdir / "litellm-config.yaml", mock_port)
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"})
    cmd = [
        str(exe),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    child = children.start("litellm", cmd, cores=cores, env=env, cwd=workdir)
    wait_http_ok(child, "127.0.0.1", port, "/health/liveliness", _READY_TIMEOUT_S)
    return child
