"""Instructions per request: a cost that the machine's drift does not move.

On a shared 2-core machine one throughput load moves by up to 20% from one round to the next,
more than the few percent some goals are about (resilience on vs off: under 3%). The serving
process's instruction count does not drift: ``valgrind --tool=callgrind`` counts what the
gateway executes (user space: the interpreter, the libraries), the same for the same work
whatever else the machine does. For a CPU-bound server whose two variants make the same system
calls, the throughput ratio follows the instruction ratio.

``start`` runs a gateway's ``serve`` under callgrind with instrumentation off (start-up is not
counted, and runs near full speed); ``per_request`` turns it on, counts an idle stretch (the
background tasks' share), zeroes, drives a closed-loop load, dumps, and divides what the load
added by the requests it completed. Usage writing stays on: both variants run at the same
(slow, instrumented) rate, so their write batches match.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import msgspec

from tests.perf import gateway_target
from tests.perf.loadgen import measure
from tests.perf.procs import Child, Children, free_port
from tests.perf.results import Scenario

_READY_S = 300.0  # start-up under valgrind (migrations and bootstrap run natively)


class InstructionCount(msgspec.Struct):
    name: str
    requests: int
    per_request: float  # instructions, the idle background's share subtracted


def available() -> str | None:
    """Why instructions cannot be counted here (None when they can)."""
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


def _wrapper(workdir: Path, gateway: Path, out: Path) -> Path:
    """A ``gateway`` command that runs ``serve`` under callgrind and the rest as they are."""
    script = workdir / "gateway-callgrind"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = serve ]; then\n'
        f"  exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file={out}.%p"
        f' "{gateway.parent / "python"}" "{gateway}" "$@"\n'
        "fi\n"
        f'exec "{gateway}" "$@"\n'
    )
    script.chmod(0o755)
    return script


class Variant(NamedTuple):
    """One gateway under callgrind, as ``start`` returned it, and the URL its loads go to."""

    child: Child
    key: str
    prefix: Path  # the dump files' prefix
    url: str


def start(
    children: Children,
    databases: list[gateway_target.BenchDatabase],
    mock_port: int,
    cores: frozenset[int] | None,
    cwd: Path,
    workdir: Path,
    *,
    name: str,
    extra_env: dict[str, str] | None = None,
    bootstrap_args: list[str] | None = None,
    key_args: list[str] | None = None,
    setup: list[list[str]] | None = None,
) -> Variant:
    """This checkout's gateway serving under callgrind, on a database of its own (added to ``databases``).

    The options after ``name`` are ``gateway_target.start``'s.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    databases.append(gateway_target.BenchDatabase(workdir.parent / "pgdata"))
    port = free_port()
    out = workdir / f"callgrind.{name}"
    print(f"  instructions: starting a gateway under callgrind [{name}] ...", flush=True)
    child, key = gateway_target.start(
        children,
        databases[-1],
        port,
        mock_port,
        cores,
        cwd,
        name=name,
        extra_env=extra_env,
        bootstrap_args=bootstrap_args,
        key_args=key_args,
        setup=setup,
        exe=_wrapper(workdir, Path(sys.executable).parent / "gateway", out),
        ready_timeout_s=_READY_S,
    )
    return Variant(child, key, out, f"http://127.0.0.1:{port}/v1/chat/completions")


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=120)


def _dumped_total(prefix: Path, pid: int, trigger: str) -> int:
    """The ``summary`` of the newest dump of ``pid`` made by ``callgrind_control -d trigger``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        best: tuple[int, int] | None = None
        for path in prefix.parent.glob(f"{prefix.name}.{pid}*"):
            text = path.read_text(errors="replace")
            if f"Trigger: Client Request: {trigger}" not in text and f"Trigger: dump {trigger}" not in text:
                continue
            m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            part = re.search(r"^part: (\d+)", text, re.M)
            if m:
                n = int(part.group(1)) if part else 0
                if best is None or n > best[0]:
                    best = (n, int(m.group(1)))
        if best is not None:
            return best[1]
        time.sleep(0.2)
    raise RuntimeError(f"no callgrind dump '{trigger}' for pid {pid} under {prefix.parent}")


def per_request(
    child: Child,
    prefix: Path,
    scenario: Scenario,
    workdir: Path,
    harness: frozenset[int] | None,
    *,
    use_wrk: bool,
    tag: str,
) -> InstructionCount:
    """Instructions per request of ``scenario`` (whose ``warmup_s`` must be 0: every request counted)."""
    pid = child.pid  # the wrapper execs valgrind: the child is the instrumented process
    _control("-i", "on", str(pid))
    _control("-z", str(pid))
    time.sleep(scenario.duration_s)
    _control("-d", f"idle-{tag}", str(pid))
    idle = _dumped_total(prefix, pid, f"idle-{tag}")
    _control("-z", str(pid))
    load = measure(scenario, workdir, harness, use_wrk=use_wrk)
    _control("-d", f"load-{tag}", str(pid))
    busy = _dumped_total(prefix, pid, f"load-{tag}")
    _control("-i", "off", str(pid))
    if load.completed <= 0:
        raise RuntimeError(f"the load under callgrind completed no request: {load.errors}")
    return InstructionCount(tag, load.completed, (busy - idle) / load.completed)


def compare(
    variants: dict[str, Variant],
    bodies: dict[str, bytes],
    *,
    repeats: int,
    duration_s: float,
    workdir: Path,
    harness: frozenset[int] | None,
    use_wrk: bool,
    around: Callable[[str, str], Callable[[int], None]] | None = None,
) -> dict[tuple[str, str], list[float]]:
    """Instructions per request of every variant for every body, ``repeats`` loads each.

    Each repeat measures every variant back to back, the order reversed on odd repeats; each
    count is preceded by a 2 s warm-up load. ``around(variant, kind)``, if given, is called
    just before a counted load and returns what to call with the requests it completed.
    """
    counts: dict[tuple[str, str], list[float]] = {}
    names = list(variants)
    for kind, body in bodies.items():
        for repeat in range(repeats):
            for name in names if repeat % 2 == 0 else names[::-1]:
                v = variants[name]
                headers = {"Content-Type": "application/json", "Authorization": f"Bearer {v.key}"}
                print(f"  instructions [{name}] {kind}, {repeat + 1}/{repeats} ...", flush=True)
                warm = Scenario(v.url, body, headers, 8, 2.0, 0.0, 30.0)
                measure(warm, workdir / "callgrind-warm", harness, use_wrk=use_wrk)
                done = around(name, kind) if around is not None else None
                s = Scenario(v.url, body, headers, 8, duration_s, 0.0, 30.0)
                got = per_request(
                    v.child, v.prefix, s, workdir / f"callgrind-{name}-{kind}", harness,
                    use_wrk=use_wrk, tag=f"{name}-{kind}-{repeat}",
                )  # fmt: skip
                if done is not None:
                    done(got.requests)
                counts.setdefault((name, kind), []).append(got.per_request)
    return counts
