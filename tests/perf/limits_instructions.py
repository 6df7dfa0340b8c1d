"""``make bench``: what budget leases and Redis rate limits cost per request, in instructions.

The throughput ratio of ``gateway-limits`` to ``gateway`` (``tests.perf.run``) moves by 10-20%
from one run to the next on a shared 2-core machine. This counts instead what each request
costs: the serving process's instructions under callgrind (``tests.perf.instructions``), and
the Redis server's CPU time per request (``INFO cpu`` around each counted load; Redis is a
server of its own in production, but here it shares the two cores). Both gateways serve the
same mock; ``limits`` is the ``gateway-limits`` target of ``tests.perf.run`` (hard org and key
budgets far from their limits, requests/min, tokens/min and concurrency limits on the key and
the organization that never refuse).

``--split`` also counts two gateways that each have one half: ``leases`` (the same hard
budgets, no rate limits) and ``rates`` (the same rate limits in Redis, no budgets), to say
which half costs what.

Results go to ``.gateway/bench/limits-instructions.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import redis

from tests.perf import bench_limits, gateway_target, instructions
from tests.perf.procs import Children
from tests.perf.run import _cores

_REPO = Path(__file__).resolve().parents[2]
_WORKDIR = _REPO / ".gateway" / "bench"
_BODY = {"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 50}


class LimitsInstructions(msgspec.Struct):
    kind: str  # "json" or "stream"
    plain: list[float]  # instructions per request, one per counted load
    limits: list[float]
    cost_pct: float  # median limits over median plain, minus one
    redis_us_per_request: list[float]  # Redis server CPU per request during the limits loads
    redis_calls_per_request: list[float]  # script calls (EVALSHA) per request
    # With --split: leases alone (the hard budgets, no rate limits) and Redis rate limits alone.
    leases: list[float] = msgspec.field(default_factory=list)
    leases_cost_pct: float | None = None
    rates: list[float] = msgspec.field(default_factory=list)
    rates_cost_pct: float | None = None


def _redis_totals(client: redis.Redis) -> tuple[float, int]:
    cpu = client.info("cpu")
    stats = client.info("commandstats").get("cmdstat_evalsha") or {}
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), int(stats.get("calls", 0))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.perf.limits_instructions", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="counted loads per variant and kind")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per counted load")
    p.add_argument("--kinds", default="json,stream", help="json, stream or both")
    p.add_argument("--loadgen", choices=["auto", "python"], default="auto")
    p.add_argument(
        "--split",
        action="store_true",
        help="also count leases alone (hard budgets, no rate limits) and rate limits alone (no budgets)",
    )
    a = p.parse_args(argv)
    why_not = instructions.available()
    if why_not is not None:
        print(f"limits instructions not counted: valgrind {why_not}")
        return 0
    server, harness = _cores()
    _WORKDIR.mkdir(parents=True, exist_ok=True)
    databases: list[gateway_target.BenchDatabase] = []
    redis_cpu: dict[str, list[float]] = {}
    redis_calls: dict[str, list[float]] = {}
    with Children(_WORKDIR / "logs") as children:
        mock, mock_port = gateway_target.start_mock(children, harness, _REPO)
        own = bench_limits.start_redis(children, None)
        redis_url = own[1] if own is not None else bench_limits.DEFAULT_REDIS
        client = redis.Redis.from_url(redis_url, socket_timeout=5)
        try:
            cg = _WORKDIR / "callgrind"
            hard = list(bench_limits.HARD_BUDGET)
            # Each variant: the org's budget at bootstrap, and the rest of its options.
            plan: dict[str, tuple[list[str] | None, bench_limits.LimitsOptions]] = {
                "plain": (None, {}),
                "limits": (hard, bench_limits.gateway_options(redis_url)),
            }
            if a.split:
                plan["leases"] = (hard, bench_limits.gateway_options(redis_url, rates=False))
                plan["rates"] = (None, bench_limits.gateway_options(redis_url, budget=False))
            started = {
                name: instructions.start(
                    children,
                    databases,
                    mock_port,
                    server,
                    _REPO,
                    cg,
                    name=f"gateway-{name}",
                    bootstrap_args=boot,
                    **options,
                )
                for name, (boot, options) in plan.items()
            }

            def around(name: str, kind: str) -> Callable[[int], None]:
                cpu0, calls0 = _redis_totals(client)

                def done(requests: int) -> None:
                    if name != "limits" or requests <= 0:
                        return
                    cpu1, calls1 = _redis_totals(client)
                    redis_cpu.setdefault(kind, []).append((cpu1 - cpu0) * 1e6 / requests)
                    redis_calls.setdefault(kind, []).append((calls1 - calls0) / requests)

                return done

            kinds = [k for k in a.kinds.split(",") if k]
            bodies = {k: msgspec.json.encode({**_BODY, "stream": k == "stream"}) for k in kinds}
            counts = instructions.compare(
                started,
                bodies,
                repeats=a.repeats,
                duration_s=a.duration,
                workdir=_WORKDIR / "load",
                harness=harness,
                use_wrk=a.loadgen == "auto",
                around=around,
            )
        finally:
            client.close()
            children.stop_all_but(mock)
            for db in reversed(databases):
                db.close()

    def cost(name: str, kind: str) -> float | None:
        part, plain = counts.get((name, kind)), counts[("plain", kind)]
        return (statistics.median(part) / statistics.median(plain) - 1) * 100 if part else None

    def shown(values: list[float]) -> str:
        return "/".join(f"{v / 1000:,.0f}k" for v in values)

    out = [
        LimitsInstructions(
            kind,
            counts[("plain", kind)],
            counts[("limits", kind)],
            cost("limits", kind) or 0.0,
            redis_cpu.get(kind, []),
            redis_calls.get(kind, []),
            counts.get(("leases", kind), []),
            cost("leases", kind),
            counts.get(("rates", kind), []),
            cost("rates", kind),
        )
        for kind in bodies
    ]
    print("\ninstructions per request (callgrind, the serving process), leases + rate limits vs plain gateway:")
    for r in out:
        cpu = "/".join(f"{v:.0f}" for v in r.redis_us_per_request)
        calls = "/".join(f"{v:.2f}" for v in r.redis_calls_per_request)
        print(
            f"  {r.kind}: {shown(r.limits)} vs {shown(r.plain)} (+{r.cost_pct:.1f}%);"
            f" redis CPU {cpu} us/request, {calls} scripts/request"
        )
        if r.leases_cost_pct is not None and r.rates_cost_pct is not None:
            print(
                f"    leases alone {shown(r.leases)} (+{r.leases_cost_pct:.1f}%);"
                f" rate limits alone {shown(r.rates)} (+{r.rates_cost_pct:.1f}%)"
            )
    path = _WORKDIR / "limits-instructions.json"
    path.write_bytes(msgspec.json.format(msgspec.json.encode(out)))
    print(f"results: {path.relative_to(_REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
