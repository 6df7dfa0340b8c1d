"""Prometheus metrics, one registry per app (no module-level collectors).

Label children on the hot path are looked up through small dict caches, because
``labels()`` on prometheus-client costs a few microseconds per call.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString as _untyped_go_string

# prometheus-client's own spelling of a bucket bound ("0.001", "+Inf"), typed.
_go_string = cast(Callable[[float], str], _untyped_go_string)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        # The per-request series are tallies (plain dicts, exported at scrape): the request
        # path pays a dict update per sample instead of prometheus-client's lock and checks.
        self.requests = Tally(
            "gateway_requests", "Requests served", ("endpoint", "model", "provider", "status"), registry=r
        )
        self.latency = TallyHistogram(
            "gateway_request_seconds", "End-to-end latency", ("endpoint",), _LATENCY_BUCKETS, registry=r
        )
        self.ttft = TallyHistogram(
            "gateway_time_to_first_token_seconds",
            "Time from request to first streamed byte",
            ("endpoint",),
            _LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = TallyHistogram(
            "gateway_overhead_seconds",
            "Gateway time: end-to-end minus time waiting on the upstream",
            ("endpoint",),
            _OVERHEAD_BUCKETS,
            registry=r,
        )
        self.tokens = Tally("gateway_tokens", "Tokens by model and kind", ("model", "kind"), registry=r)
        self.cost = Tally("gateway_cost_millicents", "Cost in millicents by model", ("model",), registry=r)
        self.upstream_errors = Counter("gateway_upstream_errors", "Upstream failures", ["provider", "kind"], registry=r)
        self.queue_depth = Gauge("gateway_write_queue_depth", "Records waiting to be written", registry=r)
        self.flush_seconds = Histogram(
            "gateway_write_flush_seconds", "Time to write one batch", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.written_records = Counter("gateway_written_records", "Records written", registry=r)
        self.spooled_records = Counter("gateway_spooled_records", "Records spooled to disk", registry=r)
        self.replayed_records = Counter("gateway_replayed_records", "Spooled records replayed", registry=r)
        self.rejected_records = Counter(
            "gateway_rejected_records", "Records the database refused (kept on disk)", registry=r
        )
        self.routing = Counter("gateway_auto_decisions", "AUTO decisions by tier", ["tier"], registry=r)
        # Resilience, per deployment of a model (README, Resilience).
        self.circuit_state = Gauge(
            "gateway_circuit_state",
            "Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open",
            ["deployment", "model"],
            registry=r,
        )
        self.in_flight = Gauge(
            "gateway_deployment_in_flight", "Requests in flight per deployment", ["deployment", "model"], registry=r
        )
        self.attempts = Tally(
            "gateway_upstream_attempts",
            "Upstream attempts per deployment by outcome (ok, http_<status>, or an error code)",
            ("deployment", "model", "outcome"),
            registry=r,
        )
        self.fallbacks = Counter(
            "gateway_fallbacks", "Requests a fallback model served", ["from_model", "to_model"], registry=r
        )
        self.rate_limited = Counter(
            "gateway_rate_limited", "Requests refused by a rate limit", ["scope", "kind"], registry=r
        )
        self.limiter_failures = Counter(
            "gateway_rate_limiter_failures", "Rate-limit checks that could not reach Redis", ["mode"], registry=r
        )
        self.auth_throttled = Counter(
            "gateway_auth_throttled", "Requests refused after repeated failed authentication", registry=r
        )
        self.stale_principals = Counter(
            "gateway_principal_cache_stale_served", "Cached principals served stale (revalidating)", registry=r
        )
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def watch_deployments(self, deployments: dict[str, list[Any]], clock: Callable[[], float]) -> None:
        """Export each deployment's circuit state and in-flight count, read at scrape time."""
        for model, deps in deployments.items():
            for d in deps:
                state, flight = _readers(d, clock)
                self.circuit_state.labels(d.name, model).set_function(state)
                self.in_flight.labels(d.name, model).set_function(flight)

    def call_settled(
        self,
        endpoint: str,
        model: str,
        provider: str,
        status: str,
        elapsed_s: float,
        overhead_s: float,
        ttft_s: float | None,
        tokens: tuple[tuple[str, int], ...],
        cost: int,
    ) -> None:
        """Every per-call series of one settled call, in one call (settlement runs it per call)."""
        counts = self.requests.counts
        key = (endpoint, model, provider, status)
        counts[key] = counts.get(key, 0.0) + 1.0
        labels = (endpoint,)
        self.latency.observe(labels, elapsed_s)
        self.overhead.observe(labels, overhead_s)
        if ttft_s is not None:
            self.ttft.observe(labels, ttft_s)
        by_kind = self.tokens.counts
        for kind, count in tokens:
            if count:
                k = (model, kind)
                by_kind[k] = by_kind.get(k, 0.0) + count
        if cost:
            by_model = self.cost.counts
            m = (model,)
            by_model[m] = by_model.get(m, 0.0) + cost

    def child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """``metric.labels(*labels)``, memoised (label sets are few: endpoints x models x statuses)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found


def _readers(d: Any, clock: Callable[[], float]) -> tuple[Callable[[], float], Callable[[], float]]:
    def state() -> float:
        return float(d.circuit.state(clock()))

    def flight() -> float:
        return float(d.in_flight)

    return state, flight


class Tally:
    """A labelled counter kept as a plain dict and exported at scrape time.

    For counts bumped on every request (the upstream attempt outcomes): one dict update per
    increment instead of a prometheus child's lock and checks. One event loop owns it.
    """

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...], *, registry: CollectorRegistry) -> None:
        self._name = name
        self._doc = documentation
        self._labels = list(labels)
        self.counts: dict[tuple[str, ...], float] = {}
        registry.register(self)

    def add(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self.counts[labels] = self.counts.get(labels, 0.0) + amount

    def describe(self) -> list[CounterMetricFamily]:
        return [CounterMetricFamily(self._name, self._doc, labels=self._labels)]

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self._name, self._doc, labels=self._labels)
        for labels, value in list(self.counts.items()):
            family.add_metric(list(labels), value)
        yield family


class TallyHistogram:
    """A labelled histogram kept as plain lists and exported at scrape time (see ``Tally``)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: tuple[str, ...],
        buckets: tuple[float, ...],
        *,
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._doc = documentation
        self._labels = list(labels)
        self._bounds = buckets
        self._le = [_go_string(b) for b in (*buckets, float("inf"))]
        # Per label set: [count per bucket (the last one is +Inf), sum]
        self.series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
        registry.register(self)

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        found = self.series.get(labels)
        if found is None:
            found = self.series[labels] = ([0] * (len(self._bounds) + 1), [0.0])
        found[0][bisect_left(self._bounds, value)] += 1
        found[1][0] += value

    def describe(self) -> list[HistogramMetricFamily]:
        return [HistogramMetricFamily(self._name, self._doc, labels=self._labels)]

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._doc, labels=self._labels)
        for labels, (counts, total) in list(self.series.items()):
            cumulative: list[tuple[str, float]] = []
            running = 0
            for le, count in zip(self._le, counts, strict=True):
                running += count
                cumulative.append((le, running))
            family.add_metric(list(labels), cumulative, total[0])
        yield family
