"""The typed records passed between the runner, the load generators and results.json."""

from __future__ import annotations

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
