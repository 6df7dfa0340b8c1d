"""The typed records passed between the runner, the load generators and results.json."""

from __future__ import annotations

import random
import statistics

import msgspec


class Scenario(msgspec.Struct, frozen=True):
    """One load: POST ``body`` to ``url`` over ``connections`` closed-loop connections."""

    url: str
    body: bytes
    headers: dict[str, str]
    connections: int
    duration_s: float
    warmup_s: float
    timeout_s: float = 10.0


class LoadResult(msgspec.Struct):
    """What one load measured; latencies are of complete responses, in milliseconds."""

    tool: str
    connections: int
    completed: int
    errors: dict[str, int]
    duration_s: float
    rate: float
    p50_ms: float | None
    p99_ms: float | None
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    # The serving process during the measured part (wrk loads given a ``Watch``): its CPU time
    # (user + system) per completed request, and how busy its cores were (0-1). When the
    # cores are saturated, CPU per request (kernel time included) is what bounds the rate.
    server_cpu_us: float | None = None
    server_busy: float | None = None

    @property
    def error_count(self) -> int:
        """All failed requests, whatever the kind."""
        return sum(self.errors.values())


class TargetResult(msgspec.Struct):
    """Everything measured for one target (mock, floor, gateway, litellm) in one dialect."""

    target: str
    dialect: str
    rps: LoadResult | None = None
    sps: LoadResult | None = None
    latency: LoadResult | None = None
    ttft: LoadResult | None = None
    peak_rss_mb: float | None = None
    added_p50_ms: float | None = None
    added_p99_ms: float | None = None
    error: str | None = None


class Report(msgspec.Struct):
    """The whole run, as written to ``.gateway/bench/results.json``."""

    started_at: str
    settings: dict[str, str | float | int | bool]
    targets: list[TargetResult]
    ratios: dict[str, dict[str, float | None]]
    notes: list[str]


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of seconds, in milliseconds; ``None`` when nothing was measured."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index] * 1000.0


def median_interval(values: list[float], resamples: int = 2000) -> tuple[float, float, float] | None:
    """The median of per-round values and a 95% bootstrap interval of it: (median, low, high).

    The bench compares two targets round by round (their loads seconds apart), so a drift of
    the machine between rounds cancels in each round's ratio; the interval says how far the
    median of those ratios can be trusted on a noisy machine.
    """
    if not values:
        return None
    rng = random.Random(0)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return statistics.median(values), meds[int(0.025 * resamples)], meds[int(0.975 * resamples) - 1]
