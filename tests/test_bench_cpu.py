"""The bench's CPU-per-request measure: process CPU from /proc, core busy ticks, the paired note."""

from __future__ import annotations

import os
import time

from tests.perf.procs import cores_busy, cpu_seconds
from tests.perf.results import LoadResult
from tests.perf.run import _cpu_note


def _load(cpu_us: float | None, busy: float | None = None) -> LoadResult:
    return LoadResult("wrk", 64, 1000, {}, 1.0, 1000.0, 1.0, 2.0, server_cpu_us=cpu_us, server_busy=busy)


def test_cpu_seconds_counts_the_work_a_process_did() -> None:
    before = cpu_seconds(os.getpid())
    end = time.process_time() + 0.3
    while time.process_time() < end:  # burn 0.3 s of CPU
        pass
    assert cpu_seconds(os.getpid()) - before >= 0.2  # (clock ticks: 10 ms steps)


def test_cores_busy_counts_ticks_of_the_cores_asked_for() -> None:
    core = min(os.sched_getaffinity(0))
    busy, total = cores_busy(frozenset({core}))
    assert 0 <= busy <= total and total > 0
    assert cores_busy(frozenset({10_000})) == (0, 0)  # no such core: nothing counted


def test_cpu_note_gives_the_rate_the_cpu_per_request_allows() -> None:
    limits = [_load(110.0, 0.99), _load(125.0, 0.98), _load(None)]
    plain = [_load(100.0, 0.97), _load(100.0, 0.99), _load(100.0)]
    note = _cpu_note("gateway-limits", "gateway", "openai", "req/s", limits, plain)
    assert note is not None
    assert "median 0.85x" in note  # the median of 100/110 = 0.909 and 100/125 = 0.800
    assert "110/100, 125/100" in note
    assert "server core busy 97%-99%" in note
    assert _cpu_note("a", "b", "openai", "req/s", [_load(None)], [_load(100.0)]) is None
