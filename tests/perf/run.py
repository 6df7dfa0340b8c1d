"""``make bench``: the gateway against a raw aiohttp floor and the LiteLLM peer, in one run.

Every target proxies the same mock upstream and gets the same loads:
non-streamed requests/s at 64 connections, streams/s at 256 connections (10 events 5 ms
apart by default), latency p50/p99 at 1 connection (reported as *added* latency: the
target's minus the mock's measured directly), time to first body byte of a stream at 1
connection, and peak RSS (VmHWM) of the server's process tree. Figures are printed as
ratios to the floor because absolute numbers on a shared 2-core machine drift by ±10%
between runs; the ratio within one run does not.

Core pinning (when the machine has two or more cores): the server being measured runs
alone on core 0; the mock upstream, the load generator, PostgreSQL and this runner share
core 1. That mirrors "one worker on one core" and keeps the harness off the server's core.

Results also go to ``.gateway/bench/results.json``. Targets are measured one at a time and
stopped afterwards; every child process is stopped on exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import msgspec

from tests.perf import bench_limits, gateway_target, litellm_peer
from tests.perf.loadgen import Watch, measure, run_python, wrk_path
from tests.perf.procs import Child, Children, free_port, peak_rss_mb, wait_http_ok
from tests.perf.report import goals, ratios, render
from tests.perf.results import LoadResult, Report, Scenario, TargetResult, median_interval

_REPO = Path(__file__).resolve().parents[2]
_WORKDIR = _REPO / ".gateway" / "bench"
_TARGETS = ("direct", "floor", "gateway", "gateway-budget", "gateway-limits", "litellm")
_DIALECTS = {
    # dialect: (path, model, extra headers)
    "openai": ("/v1/chat/completions", "gpt-4o-mini", {}),
    "anthropic": ("/v1/messages", "claude-haiku-4-5", {"anthropic-version": "2023-06-01"}),
}
_ENC = msgspec.json.Encoder()


class Options(msgspec.Struct, frozen=True):
    """The command line, decoded once."""

    duration: float
    warmup: float
    latency_duration: float
    peer_duration: float
    only: tuple[str, ...]
    dialects: tuple[str, ...]
    events: int
    interval_ms: float
    use_wrk: bool
    timeout: float
    redis_url: str = ""  # "": the bench's own redis-server (on the harness cores), else DEFAULT_REDIS
    baseline: str = ""
    rounds: int = 1


class Target(msgspec.Struct, frozen=True):
    """Where to send a target's requests and how long to load it."""

    name: str
    base_url: str
    headers: dict[str, str]
    duration: float
    latency_duration: float


def _bodies(model: str) -> tuple[bytes, bytes]:
    base = {"model": model, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 50}
    return _ENC.encode(base), _ENC.encode({**base, "stream": True})


def _measure(
    t: Target,
    dialect: str,
    opts: Options,
    cores: frozenset[int] | None,
    *,
    full: bool = True,
    latency: bool = True,
    watch: Watch | None = None,
) -> TargetResult:
    """Run the four loads against one target; a failing load is recorded, the others still run.

    ``watch``: the target's process, whose CPU per request the throughput loads report.
    """
    path, model, extra = _DIALECTS[dialect]
    plain, stream = _bodies(model)
    url = t.base_url + path
    headers = {"Content-Type": "application/json", **extra, **t.headers}
    workdir = _WORKDIR / "load" / f"{t.name}-{dialect}"
    result = TargetResult(target=t.name, dialect=dialect)
    errors: list[str] = []

    def load(body: bytes, conns: int, seconds: float, warmup: float, python: bool = False) -> LoadResult | None:
        s = Scenario(url, body, headers, conns, seconds, warmup, opts.timeout)
        print(
            f"  {t.name} [{dialect}] {conns} conn{'s' if conns > 1 else ''}, "
            f"{'stream' if body is stream else 'json'}, {seconds:g}s ...",
            flush=True,
        )
        try:
            if python:
                return run_python(s, workdir, cores)
            return measure(s, workdir, cores, use_wrk=opts.use_wrk, watch=watch if conns > 1 else None)
        except Exception as exc:  # noqa: BLE001 - one failed load must not lose the others
            errors.append(f"{conns}-conn {'stream' if body is stream else 'json'}: {exc}")
            return None

    if full:
        result.rps = load(plain, 64, t.duration, opts.warmup)
        result.sps = load(stream, 256, t.duration, opts.warmup)
    if latency:
        result.latency = load(plain, 1, t.latency_duration, 1.0)
        # wrk cannot see the first byte of a response, so time to first token is always measured in Python.
        result.ttft = load(stream, 1, t.latency_duration, 1.0, python=True)
    if errors:
        result.error = "; ".join(errors)
    return result


def _added(result: TargetResult, direct: TargetResult | None) -> None:
    lat, base = result.latency, direct.latency if direct else None
    if lat is None or base is None or lat.p50_ms is None or base.p50_ms is None:
        return
    result.added_p50_ms = lat.p50_ms - base.p50_ms
    if lat.p99_ms is not None and base.p99_ms is not None:
        result.added_p99_ms = lat.p99_ms - base.p99_ms


def _failed(name: str, dialects: tuple[str, ...], exc: BaseException) -> list[TargetResult]:
    print(f"  {name}: {exc}", file=sys.stderr, flush=True)
    return [TargetResult(target=name, dialect=d, error=str(exc).strip()) for d in dialects]


def _parse(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m tests.perf.run", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured per throughput load")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    p.add_argument("--latency-duration", type=float, default=5.0, help="seconds per 1-connection load")
    p.add_argument("--peer-duration", type=float, default=5.0, help="cap on LiteLLM's throughput loads")
    p.add_argument("--only", default=",".join(_TARGETS), help=f"comma list of {', '.join(_TARGETS)}")
    p.add_argument("--skip-litellm", action="store_true")
    p.add_argument("--dialect", choices=["openai", "anthropic", "both"], default="openai")
    p.add_argument("--events", type=int, default=10, help="content events per mock stream")
    p.add_argument("--interval-ms", type=float, default=5.0, help="gap between mock stream events")
    p.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    p.add_argument(
        "--redis-url",
        default="",
        help="Redis for the gateway-limits target (default: a redis-server the bench starts on the harness"
        f" cores; without redis-server installed, {bench_limits.DEFAULT_REDIS})",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="throughput loads per target, the targets alternating round by round (medians reported);"
        " every server stays up meanwhile, so slow drifts of the machine hit all targets alike",
    )
    p.add_argument(
        "--baseline",
        default="",
        help="another checkout (with its .venv) whose gateway is measured in the same run, as 'baseline'"
        " (and 'baseline-budget' when gateway-budget is measured), e.g. a clone of the previous release",
    )
    a = p.parse_args(argv)
    only = tuple(x.strip() for x in a.only.split(",") if x.strip())
    unknown = set(only) - set(_TARGETS)
    if unknown:
        p.error(f"unknown target(s) in --only: {', '.join(sorted(unknown))}")
    if a.skip_litellm:
        only = tuple(x for x in only if x != "litellm")
    if a.loadgen == "wrk" and wrk_path() is None:
        p.error("--loadgen wrk: wrk is not installed (apt-get install -y wrk)")
    if not (0 < a.duration <= 120 and 0 < a.latency_duration <= 60 and 0 <= a.warmup <= 30):
        p.error("durations are bounded: 0 < --duration <= 120, 0 < --latency-duration <= 60, --warmup <= 30")
    dialects = ("openai", "anthropic") if a.dialect == "both" else (a.dialect,)
    if a.baseline and not (Path(a.baseline) / ".venv" / "bin" / "gateway").exists():
        p.error(f"--baseline {a.baseline}: no .venv/bin/gateway there (run `make install` in that checkout)")
    return Options(
        duration=a.duration,
        warmup=a.warmup,
        latency_duration=a.latency_duration,
        peer_duration=min(a.peer_duration, a.duration),
        only=only,
        dialects=dialects,
        events=a.events,
        interval_ms=a.interval_ms,
        use_wrk=a.loadgen != "python",
        timeout=a.timeout,
        redis_url=a.redis_url,
        baseline=str(Path(a.baseline).resolve()) if a.baseline else "",
        rounds=max(1, a.rounds),
    )


def _cores() -> tuple[frozenset[int] | None, frozenset[int] | None]:
    """(server cores, harness cores): the first allowed core for the server, the rest for us."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return frozenset(allowed[:1]), frozenset(allowed[1:])


def _run_targets(
    opts: Options, children: Children, server: frozenset[int] | None, harness: frozenset[int] | None
) -> tuple[list[TargetResult], list[str]]:
    notes = [
        f"load generator: {'wrk' if opts.use_wrk and wrk_path() else 'python (httptools, uvloop)'}"
        " for throughput and latency; python for TTFT",
        f"cores: server {sorted(server) if server else 'unpinned'}, "
        f"mock/loadgen/postgres {sorted(harness) if harness else 'unpinned'}",
        f"mock stream: {opts.events} events {opts.interval_ms:g} ms apart (first at once)",
    ]
    results: list[TargetResult] = []
    mock_port = free_port()
    mock_cmd = [sys.executable, "-m", "tests.perf.mock_upstream", "--port", str(mock_port),
                "--events", str(opts.events), "--interval-ms", str(opts.interval_ms)]  # fmt: skip
    mock = children.start("mock", mock_cmd, cores=harness, cwd=_REPO)
    wait_http_ok(mock, "127.0.0.1", mock_port, "/health", 15)
    redis_child: Child | None = None
    redis_url = opts.redis_url
    if "gateway-limits" in opts.only and not redis_url:
        # Not pinned (like PostgreSQL): pinned beside the load generator it slowed the load
        # itself; on the gateway's core it would be the gateway's cost.
        anywhere = (server or frozenset()) | (harness or frozenset()) or None
        own = bench_limits.start_redis(children, anywhere)
        if own is None:
            redis_url = bench_limits.DEFAULT_REDIS
            notes.append(f"redis-server not installed: the limits target uses {redis_url} as it is")
        else:
            redis_child, redis_url = own
            notes.append(f"redis: the bench's own redis-server at {redis_url}, free to run on any core")
    direct: dict[str, TargetResult] = {}
    mock_target = Target("direct", f"http://127.0.0.1:{mock_port}", {}, opts.duration, opts.latency_duration)
    for d in opts.dialects:
        # The direct latency is the baseline for "added" latency, so it is measured even when not asked for.
        direct[d] = _measure(mock_target, d, opts, harness, full="direct" in opts.only)
        direct[d].peak_rss_mb = peak_rss_mb(mock.pid)
        _added(direct[d], direct[d])
        base = direct[d].latency
        if base is not None:
            notes.append(
                f"direct-to-mock latency [{d}] @1: p50 {base.p50_ms or 0:.3f} ms, p99 {base.p99_ms or 0:.3f} ms"
                " (subtracted to give added latency)"
            )
        if "direct" in opts.only:
            results.append(direct[d])

    live: list[tuple[Target, int]] = []  # --rounds: servers kept up until every round ran

    def serve(name: str, start: Callable[[int], tuple[int, dict[str, str]]], duration: float) -> None:
        port = free_port()
        try:
            pid, headers = start(port)
        except Exception as exc:  # noqa: BLE001 - a target that cannot start is reported, not fatal
            results.extend(_failed(name, opts.dialects, exc))
            return
        target = Target(name, f"http://127.0.0.1:{port}", headers, duration, opts.latency_duration)
        if opts.rounds > 1 and name != "litellm":
            live.append((target, pid))
            return
        for d in opts.dialects:
            r = _measure(target, d, opts, harness, watch=Watch(pid, server))
            _added(r, direct.get(d))
            r.peak_rss_mb = peak_rss_mb(pid)
            results.append(r)
        children.stop_all_but(mock, redis_child)

    if "floor" in opts.only:

        def floor(port: int) -> tuple[int, dict[str, str]]:
            cmd = [sys.executable, "-m", "tests.perf.floor_proxy", "--port", str(port),
                   "--upstream", f"http://127.0.0.1:{mock_port}"]  # fmt: skip
            child = children.start("floor", cmd, cores=server, cwd=_REPO)
            wait_http_ok(child, "127.0.0.1", port, "/healthz", 15)
            return child.pid, {"Authorization": "Bearer floor-ignores-this"}

        serve("floor", floor, opts.duration)
    # "gateway-budget": the same gateway with a monthly budget and a hard limit, far from the
    # limit, to show what enforcement costs on the common path. Each target gets its own
    # database; the embedded server (if this run started it) stops after the last one.
    # "gateway-limits": budget leases (org and key hard budgets, far from the limit) and rate
    # limits on the key and the organization, shared through Redis (bench_limits.py).
    databases: list[gateway_target.BenchDatabase] = []
    hard = list(bench_limits.HARD_BUDGET)
    # With --baseline, each gateway target is preceded by the same target on the other checkout,
    # so both are measured minutes apart under the same harness ("baseline" = that checkout).
    plan: list[tuple[str, list[str], str]] = []
    for name, extra in (("gateway", []), ("gateway-budget", hard), ("gateway-limits", hard)):
        if name not in opts.only:
            continue
        if opts.baseline and name != "gateway-limits":
            plan.append((name.replace("gateway", "baseline"), extra, name))
        plan.append((name, extra, name))
    try:
        for name, extra, kind in plan:

            def gateway(
                port: int, extra: list[str] = extra, name: str = name, kind: str = kind
            ) -> tuple[int, dict[str, str]]:
                databases.append(gateway_target.BenchDatabase(_WORKDIR / "pgdata"))
                limits = bench_limits.gateway_options(redis_url) if kind == "gateway-limits" else {}  # fmt: skip
                other = Path(opts.baseline) if name.startswith("baseline") else None
                child, key = gateway_target.start(
                    children,
                    databases[-1],
                    port,
                    mock_port,
                    server,
                    other or _REPO,
                    bootstrap_args=extra,
                    exe=other / ".venv" / "bin" / "gateway" if other else None,
                    name=name,
                    **limits,
                )
                return child.pid, {"Authorization": f"Bearer {key}"}

            serve(name, gateway, opts.duration)
            if opts.rounds > 1:
                continue
            children.stop_all_but(mock, redis_child)  # SIGTERM: the gateway drains its write queue before exiting
            if databases:
                notes.append(f"usage rows {name} wrote to PostgreSQL: {databases[-1].usage_rows()}")
        if live:
            results.extend(_rounds(live, opts, server, harness, direct, notes))
            children.stop_all_but(mock, redis_child)
            for database, (t, _) in zip(databases, [x for x in live if x[0].name != "floor"], strict=False):
                notes.append(f"usage rows {t.name} wrote to PostgreSQL: {database.usage_rows()}")
    finally:
        children.stop_all_but(mock, redis_child)
        for database in reversed(databases):
            database.close()
    if "litellm" in opts.only:

        def litellm(port: int) -> tuple[int, dict[str, str]]:
            exe = litellm_peer.ensure_installed(_WORKDIR / "litellm-venv")
            child = litellm_peer.start(children, exe, _WORKDIR, port, mock_port, server)
            return child.pid, {"Authorization": f"Bearer {litellm_peer.MASTER_KEY}"}

        serve("litellm", litellm, opts.peer_duration)
        notes.append(f"litellm throughput loads capped at {opts.peer_duration:g}s")
    if "gateway-limits" in opts.only:
        notes.extend(bench_limits.notes(results, redis_url))
        if redis_child is not None:
            cpu = bench_limits.server_cpu_note(redis_url)
            if cpu:
                notes.append(cpu)
    return results, notes


def _rounds(
    live: list[tuple[Target, int]],
    opts: Options,
    server: frozenset[int] | None,
    harness: frozenset[int] | None,
    direct: dict[str, TargetResult],
    notes: list[str],
) -> list[TargetResult]:
    """``--rounds``: every live target's throughput loads, round by round, then one latency pass.

    The order rotates each round; each target's figure is its median round (the whole load
    of that round, so its error count and rate belong together).
    """
    rps: dict[tuple[str, str], list[LoadResult]] = {}
    sps: dict[tuple[str, str], list[LoadResult]] = {}
    for round_ in range(opts.rounds):
        order = live[round_ % len(live) :] + live[: round_ % len(live)]
        print(f"round {round_ + 1}/{opts.rounds}: {', '.join(t.name for t, _ in order)}", flush=True)
        for target, pid in order:
            for d in opts.dialects:
                r = _measure(target, d, opts, harness, latency=False, watch=Watch(pid, server))
                if r.rps is not None:
                    rps.setdefault((target.name, d), []).append(r.rps)
                if r.sps is not None:
                    sps.setdefault((target.name, d), []).append(r.sps)
    out: list[TargetResult] = []
    for target, pid in live:
        for d in opts.dialects:
            r = _measure(target, d, opts, harness, full=False)
            r.rps = _median_load(rps.get((target.name, d), []))
            r.sps = _median_load(sps.get((target.name, d), []))
            for kind, loads in (("req/s", rps), ("streams/s", sps)):
                rates = ", ".join(f"{x.rate:,.0f}" for x in loads.get((target.name, d), []) if x.rate is not None)
                notes.append(f"{target.name} [{d}] {kind} by round: {rates}")
            _added(r, direct.get(d))
            r.peak_rss_mb = peak_rss_mb(pid)
            out.append(r)
    notes.extend(_paired(rps, sps, opts))
    return out


# (target, the target it is compared with): the ratios the issues set goals on.
_PAIRS = (("gateway-limits", "gateway"), ("gateway", "baseline"), ("gateway-budget", "baseline-budget"))


def _paired(
    rps: dict[tuple[str, str], list[LoadResult]], sps: dict[tuple[str, str], list[LoadResult]], opts: Options
) -> list[str]:
    """Per-round ratios of each compared pair (both measured in the same round, seconds apart),
    their median and its 95% bootstrap interval: steadier than a ratio of two medians when
    the machine drifts between rounds."""
    out: list[str] = []
    for target, base in _PAIRS:
        for d in opts.dialects:
            for kind, loads in (("req/s", rps), ("streams/s", sps)):
                a, b = loads.get((target, d), []), loads.get((base, d), [])
                ratios = [x.rate / y.rate for x, y in zip(a, b, strict=False) if x.rate and y.rate]
                m = median_interval(ratios)
                if m is None:
                    continue
                shown = ", ".join(f"{v:.2f}" for v in ratios)
                out.append(
                    f"{target} / {base} [{d}] {kind}, paired by round: median {m[0]:.2f}x"
                    f" (95% interval {m[1]:.2f}-{m[2]:.2f}; rounds {shown})"
                )
                cpu = _cpu_note(target, base, d, kind, a, b)
                if cpu:
                    out.append(cpu)
    return out


def _cpu_note(target: str, base: str, dialect: str, kind: str, a: list[LoadResult], b: list[LoadResult]) -> str | None:
    """The pair's CPU per request of the serving process, as the rate it allows (base CPU / target CPU).

    Paired by round like the rates. It is what bounds the rate when the server's core is
    saturated (its busy fraction is shown), and unlike callgrind's count it includes kernel time.
    """
    pairs = [(x, y) for x, y in zip(a, b, strict=False) if x.server_cpu_us and y.server_cpu_us]
    cpu = [(x.server_cpu_us or 0.0, y.server_cpu_us or 0.0) for x, y in pairs]
    m = median_interval([base_us / us for us, base_us in cpu])
    if m is None:
        return None
    us = ", ".join(f"{t:.0f}/{b:.0f}" for t, b in cpu)
    busy = [v.server_busy for x, y in pairs for v in (x, y) if v.server_busy is not None]
    shown = f"; server core busy {min(busy):.0%}-{max(busy):.0%}" if busy else ""
    return (
        f"{target} / {base} [{dialect}] {kind}, by CPU per request (user+sys, the serving process): "
        f"median {m[0]:.2f}x (95% interval {m[1]:.2f}-{m[2]:.2f}; us per request by round {us}{shown})"
    )


def _median_load(loads: list[LoadResult]) -> LoadResult | None:
    rated = sorted((x for x in loads if x.rate is not None), key=lambda x: x.rate or 0.0)
    return rated[(len(rated) - 1) // 2] if rated else None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables and write ``results.json``; 0 unless it was interrupted."""
    opts = _parse(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    server, harness = _cores()
    if harness:
        os.sched_setaffinity(0, harness)  # children default to the harness cores; servers get core 0
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    _WORKDIR.mkdir(parents=True, exist_ok=True)
    try:
        with Children(_WORKDIR / "logs") as children:
            results, notes = _run_targets(opts, children, server, harness)
    except KeyboardInterrupt:
        print("\ninterrupted: every child process was stopped", file=sys.stderr)
        return 130
    rat = ratios(results)
    print()
    print(render(results, rat))
    checks = goals(results)
    if checks:
        print("\ngateway goals (openai dialect):")
        print("\n".join(checks))
    print("\nnotes:\n" + "\n".join(f"  {n}" for n in notes))
    settings: dict[str, str | float | int | bool] = {
        k: (",".join(v) if isinstance(v, tuple) else v) for k, v in msgspec.structs.asdict(opts).items()
    }
    report = Report(started_at=started, settings=settings, targets=results, ratios=rat, notes=notes)
    out = _WORKDIR / "results.json"
    out.write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    print(f"\nresults: {out.relative_to(_REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
