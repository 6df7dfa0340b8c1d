"""Load generation for the benchmark: ``wrk`` when installed, else the Python generator.

On two cores the load generator competes with the server it measures, so it must be
cheap: ``wrk`` (C, one thread, a Lua script for the POST body and a JSON summary) is
preferred; ``apt-get install -y wrk`` provides it. Without it, and always for time to
first byte (which ``wrk`` cannot see), the Python generator in ``pyload`` runs in its
own process on uvloop. Every load runs in a child process pinned to the given cores.

As a program (``python -m tests.perf.loadgen SCENARIO.json``) it runs the Python
generator for one msgspec-encoded :class:`Scenario` and prints a :class:`LoadResult`.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import msgspec

from tests.perf.procs import cores_busy, cpu_seconds
from tests.perf.results import LoadResult, Scenario

_WRK_MARK = "WRKJSON "
_REPO = Path(__file__).resolve().parents[2]  # children run ``-m tests.perf...`` from here
_SLACK_S = 15.0  # beyond warm-up + duration + timeout, before a stuck child is killed

_LUA = """
local f = assert(io.open([==[{body}]==], "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
{headers}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"p50_us":%.0f,"p99_us":%.0f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


class _WrkSummary(msgspec.Struct):
    requests: int
    duration_us: int
    connect: int
    read: int
    write: int
    status: int
    timeout: int
    p50_us: float
    p99_us: float


def wrk_path() -> str | None:
    """The ``wrk`` executable, or ``None`` when it is not installed."""
    return shutil.which("wrk")


def _pin(cores: frozenset[int] | None) -> Callable[[], None] | None:
    if not cores:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cores)

    return pin


def _run(cmd: list[str], cores: frozenset[int] | None, limit_s: float) -> str:
    """Run a load child pinned to ``cores``; its stdout, or an error naming what went wrong."""
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=limit_s, preexec_fn=_pin(cores), check=False, cwd=_REPO
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def _wrk_once(wrk: str, scenario: Scenario, seconds: int, script: Path, cores: frozenset[int] | None) -> str:
    cmd = [
        wrk,
        "-t1",
        f"-c{scenario.connections}",
        f"-d{seconds}s",
        f"--timeout={max(1, math.ceil(scenario.timeout_s))}s",
        "-s",
        str(script),
        scenario.url,
    ]
    return _run(cmd, cores, seconds + scenario.timeout_s + _SLACK_S)


class Watch(NamedTuple):
    """The serving process (and its cores) whose CPU a load reports per request."""

    pid: int
    cores: frozenset[int] | None


def _snapshot(watch: Watch | None) -> tuple[float, tuple[int, int]]:
    """``watch``'s CPU seconds so far and its cores' (busy, total) ticks; zeros without one."""
    if watch is None:
        return 0.0, (0, 0)
    return cpu_seconds(watch.pid), cores_busy(watch.cores) if watch.cores else (0, 0)


def run_wrk(
    wrk: str, scenario: Scenario, workdir: Path, cores: frozenset[int] | None, watch: Watch | None = None
) -> LoadResult:
    """Warm up, then measure ``scenario`` with one ``wrk`` thread (and ``watch``'s CPU, if given)."""
    workdir.mkdir(parents=True, exist_ok=True)
    body = workdir / "body.json"
    body.write_bytes(scenario.body)
    headers = "\n".join(f'wrk.headers["{k}"] = [==[{v}]==]' for k, v in scenario.headers.items())
    script = workdir / "post.lua"
    script.write_text(_LUA.format(body=body, headers=headers, mark=_WRK_MARK))
    if scenario.warmup_s > 0:
        _wrk_once(wrk, scenario, max(1, math.ceil(scenario.warmup_s)), script, cores)
    cpu0, busy0 = _snapshot(watch)
    out = _wrk_once(wrk, scenario, max(1, math.ceil(scenario.duration_s)), script, cores)
    cpu1, busy1 = _snapshot(watch)
    line = next((ln for ln in out.splitlines() if ln.startswith(_WRK_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out[-500:]}")
    s = msgspec.json.decode(line[len(_WRK_MARK) :], type=_WrkSummary)
    seconds = s.duration_us / 1e6
    ok = max(0, s.requests - s.status)
    return LoadResult(
        tool="wrk",
        connections=scenario.connections,
        completed=ok,
        errors={"connect": s.connect, "read": s.read + s.write, "status": s.status, "timeout": s.timeout},
        duration_s=seconds,
        rate=ok / seconds if seconds else 0.0,
        p50_ms=s.p50_us / 1000.0 if ok else None,
        p99_ms=s.p99_us / 1000.0 if ok else None,
        server_cpu_us=(cpu1 - cpu0) * 1e6 / ok if watch and ok else None,
        server_busy=(busy1[0] - busy0[0]) / (busy1[1] - busy0[1]) if busy1[1] > busy0[1] else None,
    )


def run_python(scenario: Scenario, workdir: Path, cores: frozenset[int] | None) -> LoadResult:
    """Run the Python generator for ``scenario`` in its own pinned process."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec = workdir / "scenario.json"
    spec.write_bytes(msgspec.json.encode(scenario))
    limit = scenario.warmup_s + scenario.duration_s + _SLACK_S
    out = _run([sys.executable, "-m", "tests.perf.loadgen", str(spec)], cores, limit)
    return msgspec.json.decode(out.strip().splitlines()[-1], type=LoadResult)


def measure(
    scenario: Scenario,
    workdir: Path,
    cores: frozenset[int] | None,
    *,
    use_wrk: bool = True,
    watch: Watch | None = None,
) -> LoadResult:
    """Measure ``scenario`` with ``wrk`` when allowed and installed, else with Python (no ``watch``)."""
    wrk = wrk_path() if use_wrk else None
    if wrk is not None:
        return run_wrk(wrk, scenario, workdir, cores, watch)
    return run_python(scenario, workdir, cores)


def main() -> None:
    """Run one scenario file with the Python generator and print the result as JSON."""
    from tests.perf.mock_upstream import run_event_loop
    from tests.perf.pyload import run_load

    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.perf.loadgen SCENARIO.json")
    scenario = msgspec.json.decode(Path(sys.argv[1]).read_bytes(), type=Scenario)
    results: list[LoadResult] = []

    async def go() -> None:
        results.append(await run_load(scenario))

    run_event_loop(go())
    sys.stdout.write(msgspec.json.encode(results[0]).decode() + "\n")


if __name__ == "__main__":
    main()
