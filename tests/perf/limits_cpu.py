"""``make bench``: where the rate limits' cost is: the Redis round trip, or the limit logic.

Three gateways serve the same mock, each with its own database: ``plain`` (no limits),
``redis`` (the ``gateway-limits`` target: hard org and key budgets far from their limits,
requests/min, tokens/min and concurrency limits in Redis that never refuse) and ``local``
(the same budgets and limits, ``REDIS_URL`` unset, so the in-process limiter checks them).
The same logic runs in ``redis`` and ``local``; only the round trip differs. wrk loads them in
turn, ``--rounds`` times, and this reports requests/s and CPU per request of the gateway
(user and system, from ``/proc``) and of the Redis server, medians over the rounds.

Results go to ``.gateway/bench/limits-cpu.json``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

import msgspec

from tests.perf import bench_limits, gateway_target
from tests.perf.loadgen import wrk_path
from tests.perf.procs import Children, free_port

_REPO = Path(__file__).resolve().parents[2]
_WORKDIR = _REPO / ".gateway" / "bench" / "limits-cpu"
_BODY = '{"model":"gpt-5.4-mini","messages":[{"role":"user","content":"Say hi"}],"max_tokens":50%s}'


class Round(msgspec.Struct):
    requests_per_s: float
    user_us: float  # the gateway's CPU per request
    system_us: float
    redis_us: float  # the Redis server's CPU per request


class VariantCpu(msgspec.Struct):
    name: str
    rounds: list[Round]
    median_requests_per_s: float
    median_cpu_us: float  # gateway user + system per request


def _cpu_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = 100.0  # USER_HZ on Linux
    return int(fields[11]) / tick, int(fields[12]) / tick


def _wrk(wrk: str, script: Path, url: str, seconds: int) -> tuple[int, float, int]:
    """(requests, requests/s, non-2xx answers) of one wrk load."""
    out = subprocess.run(
        [wrk, "-t1", "-c8", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    done = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if done is None or rate is None:
        raise RuntimeError(f"wrk printed no totals: {out[-500:]!r}")
    return int(done.group(1)), float(rate.group(1)), int(bad.group(1)) if bad else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.perf.limits_cpu", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--duration", type=int, default=6, help="seconds per load")
    p.add_argument("--stream", action="store_true", help="streamed requests instead of whole answers")
    a = p.parse_args(argv)
    wrk = wrk_path()
    if wrk is None:
        print("limits cpu not measured: wrk is not installed")
        return 0
    body = _BODY % (', "stream": true' if a.stream else "")
    _WORKDIR.mkdir(parents=True, exist_ok=True)
    databases: list[gateway_target.BenchDatabase] = []
    with Children(_WORKDIR / "logs") as children:
        mock, mock_port = gateway_target.start_mock(children, None, _REPO)
        own = bench_limits.start_redis(children, None)
        if own is None:
            print("limits cpu not measured: redis-server is not installed")
            return 0
        redis_child, redis_url = own
        redis_opts = bench_limits.gateway_options(redis_url)
        local_opts: bench_limits.LimitsOptions = {**redis_opts, "extra_env": {}}  # no REDIS_URL: in-process
        hard = list(bench_limits.HARD_BUDGET)
        plan: list[tuple[str, list[str] | None, bench_limits.LimitsOptions]] = [
            ("plain", None, {}),
            ("redis", hard, redis_opts),
            ("local", hard, local_opts),
        ]
        targets: dict[str, tuple[int, str, Path]] = {}
        try:
            for name, boot, options in plan:
                databases.append(gateway_target.BenchDatabase(_WORKDIR / f"pgdata-{name}"))
                port = free_port()
                child, key = gateway_target.start(
                    children, databases[-1], port, mock_port, None, _REPO, name=f"gateway-{name}",
                    bootstrap_args=boot, **options,
                )  # fmt: skip
                script = _WORKDIR / f"{name}.lua"
                script.write_text(
                    f'wrk.method = "POST"\nwrk.body = [[{body}]]\n'
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    f'wrk.headers["Authorization"] = "Bearer {key}"\n'
                )
                targets[name] = (child.pid, f"http://127.0.0.1:{port}/v1/chat/completions", script)
            rounds: dict[str, list[Round]] = {name: [] for name in targets}
            for i in range(a.rounds):
                for name, (pid, url, script) in targets.items():
                    (u0, s0), r0 = _cpu_s(pid), sum(_cpu_s(redis_child.pid))
                    n, rate, bad = _wrk(wrk, script, url, a.duration)
                    (u1, s1), r1 = _cpu_s(pid), sum(_cpu_s(redis_child.pid))
                    if bad or n == 0:
                        raise RuntimeError(f"{name}: {bad} of {n} answers were not 2xx")
                    r = Round(rate, (u1 - u0) * 1e6 / n, (s1 - s0) * 1e6 / n, (r1 - r0) * 1e6 / n)
                    rounds[name].append(r)
                    print(
                        f"  round {i + 1} {name:5s}: {rate:7.0f} req/s, gateway CPU {r.user_us + r.system_us:5.1f} us"
                        f" (user {r.user_us:.1f}, system {r.system_us:.1f}), redis CPU {r.redis_us:.1f} us per request",
                        flush=True,
                    )
        finally:
            children.stop_all_but(mock)
            for db in reversed(databases):
                db.close()
    out = [
        VariantCpu(
            name,
            rs,
            statistics.median(r.requests_per_s for r in rs),
            statistics.median(r.user_us + r.system_us for r in rs),
        )
        for name, rs in rounds.items()
    ]
    plain = out[0]
    print(f"\nrate limits: the Redis round trip or the logic ({'streams' if a.stream else 'whole answers'}, medians):")
    for v in out:
        ratio = v.median_requests_per_s / plain.median_requests_per_s
        print(
            f"  {v.name:5s}: {v.median_requests_per_s:7.0f} req/s ({ratio:.2f}x plain),"
            f" gateway CPU {v.median_cpu_us:.0f} us per request"
        )
    path = _WORKDIR.parent / "limits-cpu.json"
    path.write_bytes(msgspec.json.format(msgspec.json.encode(out)))
    print(f"results: {path.relative_to(_REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
