"""``make bench`` chaos run: what resilience buys when a deployment misbehaves, and what it costs.

1. **Chaos.** ``gpt-4o-mini`` has two deployments of equal weight: ``healthy`` (the fast mock)
   and ``flaky`` (``chaos_upstream``: 30% of requests answered 500 or 529, 5% stalled 10 s
   before any byte). A closed-loop client sends streamed requests and reports the client
   success rate (a success is a 200 whose stream ends with ``[DONE]`` and no error event),
   p50/p99 latency and upstream attempts per request (``X-Gateway-Attempts``).
2. **Healthy-path cost.** The same gateway against the fast mock only, with resilience on and
   off: non-streamed requests/s (64 connections) and streams/s over ``--rounds`` rounds, each
   round one load per mode back to back (the order alternating); the cost is the median of
   the rounds' costs, with a 95% bootstrap interval.

Results go to ``.gateway/bench/chaos.json``. Figures on a shared machine are indicative;
compare the on/off ratio within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import msgspec

from tests.perf import gateway_target, instructions
from tests.perf.loadgen import measure
from tests.perf.procs import Children, free_port, wait_http_ok
from tests.perf.results import Scenario, median_interval, percentile

_REPO = Path(__file__).resolve().parents[2]
_WORKDIR = _REPO / ".gateway" / "bench"
_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 50}


class ChaosResult(msgspec.Struct):
    resilience: str
    requests: int
    succeeded: int
    success_rate: float
    p50_ms: float | None
    p99_ms: float | None
    attempts_per_request: float
    statuses: dict[str, int]


class HealthyCost(msgspec.Struct):
    rps_on: float | None
    rps_off: float | None
    sps_on: float | None
    sps_off: float | None
    rps_cost_pct: float | None
    sps_cost_pct: float | None
    # The median of the per-round costs (each round's on and off loads run back to back) and
    # a 95% bootstrap interval of that median: [low, high] in percent.
    rps_cost_ci: list[float] | None = None
    sps_cost_ci: list[float] | None = None


def paired_cost(pairs: list[tuple[float, float]]) -> tuple[float, list[float]] | None:
    """The median of per-round costs ``(off - on) / off`` in percent, and a 95% bootstrap
    interval of that median (a round's two loads run back to back)."""
    m = median_interval([(off - on) / off * 100.0 for off, on in pairs if off > 0])
    return None if m is None else (m[0], [m[1], m[2]])


class InstructionCost(msgspec.Struct):
    """Instructions per request on the healthy path (callgrind), resilience on vs off."""

    json_on: list[float]
    json_off: list[float]
    stream_on: list[float]
    stream_off: list[float]
    json_cost_pct: float | None
    stream_cost_pct: float | None


class ChaosReport(msgspec.Struct):
    chaos: list[ChaosResult]
    healthy: HealthyCost | None
    instructions: InstructionCost | None
    upstream_faults: dict[str, int]
    notes: list[str]


async def _one(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], timeout_s: float
) -> tuple[str, float, int]:
    t0 = time.perf_counter()
    try:
        async with session.post(
            url, json={**_BODY, "stream": True}, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            data = await resp.read()
            attempts = int(resp.headers.get("x-gateway-attempts", "1"))
            ok = resp.status == 200 and b"[DONE]" in data and b'"error"' not in data
            kind = "ok" if ok else (str(resp.status) if resp.status != 200 else "broken_stream")
    except (aiohttp.ClientError, TimeoutError) as exc:
        kind, attempts = type(exc).__name__, 0
    return kind, time.perf_counter() - t0, attempts


async def _chaos_load(
    url: str, key: str, requests: int, concurrency: int, timeout_s: float
) -> list[tuple[str, float, int]]:
    headers = {"authorization": f"Bearer {key}"}
    out: list[tuple[str, float, int]] = []
    left = requests

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                out.append(await _one(session, url, headers, timeout_s))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def _summarise(mode: str, rows: list[tuple[str, float, int]]) -> ChaosResult:
    statuses: dict[str, int] = {}
    for kind, _, _ in rows:
        statuses[kind] = statuses.get(kind, 0) + 1
    latencies = sorted(seconds for _, seconds, _ in rows)
    ok = statuses.get("ok", 0)
    return ChaosResult(
        resilience=mode,
        requests=len(rows),
        succeeded=ok,
        success_rate=ok / len(rows) if rows else 0.0,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        attempts_per_request=sum(a for _, _, a in rows) / len(rows) if rows else 0.0,
        statuses=statuses,
    )


def _healthy_cost(
    a: argparse.Namespace,
    children: Children,
    databases: list[gateway_target.BenchDatabase],
    mock_port: int,
    server: frozenset[int] | None,
    harness: frozenset[int] | None,
    notes: list[str],
) -> HealthyCost:
    """Resilience on vs off against the fast mock: both gateways up, loads alternating.

    One load per mode drifts with the machine (up to 20% between rounds on a shared 2-core box),
    more than the cost measured; each round's two loads run back to back, so the drift
    cancels in the round's own ratio, and the median over rounds (with its interval) is reported.
    """
    urls: dict[str, tuple[str, dict[str, str]]] = {}
    for mode in ("off", "on"):
        port = free_port()
        databases.append(gateway_target.BenchDatabase(_WORKDIR / "pgdata"))
        _child, key = gateway_target.start(
            children,
            databases[-1],
            port,
            mock_port,
            server,
            _REPO,
            name=f"gateway-healthy-{mode}",
            extra_env={"GATEWAY_RESILIENCE": mode},
        )
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        urls[mode] = (f"http://127.0.0.1:{port}/v1/chat/completions", headers)
    rates: dict[tuple[str, bool], list[float]] = {}
    pairs: dict[bool, list[tuple[float, float]]] = {}  # per stream kind: (off, on) of each round
    for stream, conns in ((False, 64), (True, 256)):
        body = msgspec.json.encode({**_BODY, "stream": stream})
        for round_ in range(a.rounds):
            got: dict[str, float] = {}
            for mode in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                url, headers = urls[mode]
                kind = "streams" if stream else "json"
                print(f"  healthy [resilience {mode}] {kind}, round {round_ + 1}/{a.rounds} ...", flush=True)
                s = Scenario(url, body, headers, conns, a.duration, 2.0, 10.0)
                try:
                    workdir = _WORKDIR / "load" / f"healthy-{mode}-{stream}"
                    load = measure(s, workdir, harness, use_wrk=a.loadgen == "auto")
                except Exception as exc:  # noqa: BLE001 - one failed load must not lose the others
                    notes.append(f"healthy load {mode}/{kind} round {round_ + 1} failed: {exc}")
                    continue
                if load.rate:
                    rates.setdefault((mode, stream), []).append(load.rate)
                    got[mode] = load.rate
            if "on" in got and "off" in got:
                pairs.setdefault(stream, []).append((got["off"], got["on"]))
    med = {k: statistics.median(v) for k, v in rates.items() if v}
    for (mode, stream), values in sorted(rates.items()):
        shown = ", ".join(f"{v:.0f}" for v in values)
        notes.append(f"healthy {mode}/{'stream' if stream else 'json'} rounds: {shown}")
    costs = {stream: paired_cost(p) for stream, p in pairs.items()}
    for stream, p in sorted(pairs.items()):
        shown = ", ".join(f"{(off - on) / off * 100.0:+.1f}%" for off, on in p)
        notes.append(f"healthy {'stream' if stream else 'json'} cost per round (on vs the off load beside it): {shown}")

    def cost(stream: bool) -> float | None:
        c = costs.get(stream)
        return None if c is None else c[0]

    def interval(stream: bool) -> list[float] | None:
        c = costs.get(stream)
        return None if c is None else c[1]

    return HealthyCost(
        rps_on=med.get(("on", False)),
        rps_off=med.get(("off", False)),
        sps_on=med.get(("on", True)),
        sps_off=med.get(("off", True)),
        rps_cost_pct=cost(False),
        sps_cost_pct=cost(True),
        rps_cost_ci=interval(False),
        sps_cost_ci=interval(True),
    )


def _instruction_cost(
    a: argparse.Namespace,
    children: Children,
    databases: list[gateway_target.BenchDatabase],
    mock_port: int,
    server: frozenset[int] | None,
    harness: frozenset[int] | None,
) -> InstructionCost:
    """Both modes under callgrind, the same loads alternating (see ``tests.perf.instructions``)."""
    cg = _WORKDIR / "callgrind"
    started = {
        mode: instructions.start(
            children,
            databases,
            mock_port,
            server,
            _REPO,
            cg,
            name=f"gateway-callgrind-{mode}",
            extra_env={"GATEWAY_RESILIENCE": mode},
        )
        for mode in ("off", "on")
    }
    bodies = {kind: msgspec.json.encode({**_BODY, "stream": kind == "stream"}) for kind in ("json", "stream")}
    by_kind = instructions.compare(
        started,
        bodies,
        repeats=a.instruction_repeats,
        duration_s=a.instruction_duration,
        workdir=_WORKDIR / "load",
        harness=harness,
        use_wrk=a.loadgen == "auto",
    )
    counts = {(mode, kind == "stream"): v for (mode, kind), v in by_kind.items()}
    for v in started.values():
        children.stop(v.child)

    def cost(stream: bool) -> float | None:
        on, off = counts.get(("on", stream)), counts.get(("off", stream))
        if not on or not off:
            return None
        return (statistics.median(on) - statistics.median(off)) / statistics.median(off) * 100.0

    return InstructionCost(
        json_on=counts.get(("on", False), []),
        json_off=counts.get(("off", False), []),
        stream_on=counts.get(("on", True), []),
        stream_off=counts.get(("off", True), []),
        json_cost_pct=cost(False),
        stream_cost_pct=cost(True),
    )


def _pct(cost: float | None, ci: list[float] | None) -> str:
    if cost is None:
        return "n/a"
    return f"{cost:.1f}%" + (f", 95% interval {ci[0]:.1f} to {ci[1]:.1f}%" if ci else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.perf.chaos", description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000, help="chaos requests per mode")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--stall-s", type=float, default=10.0, help="how long the flaky deployment stalls")
    p.add_argument("--first-byte-timeout", type=float, default=2.0, help="GATEWAY_FIRST_BYTE_TIMEOUT_S")
    p.add_argument("--duration", type=float, default=6.0, help="seconds per healthy-path throughput load")
    p.add_argument(
        "--rounds", type=int, default=3, help="healthy-path loads per mode, alternating off/on (medians reported)"
    )
    p.add_argument(
        "--skip-healthy", action="store_true", help="skip the healthy-path on/off throughput rounds (wall clock)"
    )
    p.add_argument("--skip-chaos", action="store_true", help="skip the chaos run")
    p.add_argument(
        "--skip-instructions", action="store_true", help="skip the healthy path's instruction count (callgrind)"
    )
    p.add_argument("--instruction-repeats", type=int, default=3, help="callgrind loads per mode and kind")
    p.add_argument("--instruction-duration", type=float, default=8.0, help="seconds per callgrind load")
    p.add_argument("--loadgen", choices=["auto", "python"], default="auto")
    a = p.parse_args(argv)
    allowed = sorted(os.sched_getaffinity(0))
    server = frozenset(allowed[:1]) if len(allowed) > 1 else None
    harness = frozenset(allowed[1:]) if len(allowed) > 1 else None
    _WORKDIR.mkdir(parents=True, exist_ok=True)
    notes = [
        f"flaky deployment: 30% 500/529, 5% stalled {a.stall_s:g} s; first-byte timeout {a.first_byte_timeout:g} s",
        f"chaos load: {a.requests} streamed requests per mode at concurrency {a.concurrency}",
    ]
    chaos: list[ChaosResult] = []
    healthy: HealthyCost | None = None
    counted: InstructionCost | None = None
    faults: dict[str, int] = {}
    databases: list[gateway_target.BenchDatabase] = []
    with Children(_WORKDIR / "logs") as children:
        mock_port, chaos_port = free_port(), free_port()
        mock = children.start(
            "mock",
            [sys.executable, "-m", "tests.perf.mock_upstream", "--port", str(mock_port)],
            cores=harness,
            cwd=_REPO,
        )
        wait_http_ok(mock, "127.0.0.1", mock_port, "/health", 15)
        flaky = children.start(
            "chaos-upstream",
            [sys.executable, "-m", "tests.perf.chaos_upstream", "--port", str(chaos_port), "--stall-s", str(a.stall_s)],
            cores=harness,
            cwd=_REPO,
        )
        wait_http_ok(flaky, "127.0.0.1", chaos_port, "/health", 15)
        config = Path(tempfile.mkdtemp(prefix="gw-chaos-")) / "gateway.toml"
        config.write_text(
            '[[deployments]]\nmodel = "gpt-4o-mini"\nname = "healthy"\n'
            f'base_url = "http://127.0.0.1:{mock_port}/v1"\n\n'
            '[[deployments]]\nmodel = "gpt-4o-mini"\nname = "flaky"\n'
            f'base_url = "http://127.0.0.1:{chaos_port}/v1"\n'
        )
        try:
            # Resilience off has no deployments (one attempt at the model's provider), so the
            # chaos load is meaningful only with it on.
            for mode in () if a.skip_chaos else ("on",):
                port = free_port()
                databases.append(gateway_target.BenchDatabase(_WORKDIR / "pgdata"))
                env = {
                    "GATEWAY_RESILIENCE": mode,
                    "GATEWAY_CONFIG": str(config),
                    "GATEWAY_FIRST_BYTE_TIMEOUT_S": str(a.first_byte_timeout),
                }
                child, key = gateway_target.start(
                    children, databases[-1], port, mock_port, server, _REPO, name=f"gateway-chaos-{mode}", extra_env=env
                )
                print(f"  chaos [resilience {mode}] {a.requests} requests ...", flush=True)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                rows = asyncio.run(_chaos_load(url, key, a.requests, a.concurrency, a.stall_s * 3))
                chaos.append(_summarise(mode, rows))
                children.stop(child)
            if not a.skip_healthy:
                healthy = _healthy_cost(a, children, databases, mock_port, server, harness, notes)
            why_not = instructions.available()
            if a.skip_instructions:
                pass
            elif why_not is not None:
                notes.append(f"instructions per request not counted: valgrind {why_not}")
            else:
                counted = _instruction_cost(a, children, databases, mock_port, server, harness)
            with urllib.request.urlopen(f"http://127.0.0.1:{chaos_port}/stats", timeout=5) as resp:
                faults = msgspec.json.decode(resp.read(), type=dict[str, int])
        finally:
            children.stop_all_but(mock)
            for db in reversed(databases):
                db.close()
    report = ChaosReport(chaos=chaos, healthy=healthy, instructions=counted, upstream_faults=faults, notes=notes)
    print("\nchaos (two deployments of gpt-4o-mini, one flaky):")
    print(f"  {'resilience':<10} {'requests':>8} {'success':>8} {'p50 ms':>9} {'p99 ms':>9} {'attempts/req':>12}")
    for c in chaos:
        print(
            f"  {c.resilience:<10} {c.requests:>8} {c.success_rate:>8.1%} {c.p50_ms or 0:>9.1f} {c.p99_ms or 0:>9.1f}"
            f" {c.attempts_per_request:>12.2f}   {c.statuses}"
        )
    if healthy is not None:
        print("healthy path (fast mock only), resilience on vs off:")
        print(
            f"  requests/s {healthy.rps_on or 0:.0f} vs {healthy.rps_off or 0:.0f}"
            f" (cost {_pct(healthy.rps_cost_pct, healthy.rps_cost_ci)});"
            f" streams/s {healthy.sps_on or 0:.0f} vs {healthy.sps_off or 0:.0f}"
            f" (cost {_pct(healthy.sps_cost_pct, healthy.sps_cost_ci)}; goal under 3%)"
        )
    if counted is not None:

        def shown(values: list[float]) -> str:
            return "/".join(f"{v / 1000:,.0f}k" for v in values)

        print("healthy path, instructions per request (callgrind, the serving process), resilience on vs off:")
        print(
            f"  non-streamed {shown(counted.json_on)} vs {shown(counted.json_off)}"
            f" (cost {_pct(counted.json_cost_pct, None)});"
            f" streamed {shown(counted.stream_on)} vs {shown(counted.stream_off)}"
            f" (cost {_pct(counted.stream_cost_pct, None)}; goal under 3%)"
        )
    print(f"faults the flaky deployment injected: {faults}")
    out = _WORKDIR / "chaos.json"
    out.write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    print(f"results: {out.relative_to(_REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
