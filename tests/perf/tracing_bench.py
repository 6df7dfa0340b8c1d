"""What tracing adds per request: the pipeline's exact instrumentation calls, off and on.

A request makes one context-variable set/reset, three span enter/exits (request, admission,
settlement) and two ``enabled`` checks; with tracing off the attempt is not wrapped at all.
This times those calls alone, N times, against an empty loop, and (for contrast) the same
calls with tracing on and an in-memory exporter. Run: ``python -m tests.perf.tracing_bench``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.observe.logs import request_id
from gateway.observe.tracing import Tracing, build_tracing
from gateway.settings import Settings


def per_request(tracing: Tracing) -> Callable[[], None]:
    def one() -> None:
        token = request_id.set("r")
        with tracing.span("gateway chat", {"gateway.request_id": "r"}):
            if tracing.enabled:
                tracing.annotate({"gateway.tier": "basic"})
            with tracing.span("gateway admission", {"gateway.tier": "basic"}):
                pass
            with tracing.span("gateway settlement", {"gateway.status": "success"}) as span:
                if tracing.enabled:
                    span.set_attributes({"gateway.cost_millicents": 1})
        request_id.reset(token)

    return one


def _time(fn: Callable[[], None], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    n = args.requests
    exporter = InMemorySpanExporter()
    off = build_tracing(Settings())
    on = build_tracing(Settings(), exporter)
    empty_ns = _time(lambda: None, n)
    off_ns = _time(per_request(off), n)
    on_ns = _time(per_request(on), max(1, n // 20))
    on.shutdown()
    print(
        json.dumps(
            {
                "requests": n,
                "empty_call_ns": round(empty_ns, 1),
                "tracing_off_ns_per_request": round(off_ns - empty_ns, 1),
                "tracing_on_ns_per_request": round(on_ns - empty_ns, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
