"""Deployment selection: weights, open circuits, Retry-After cool-downs, in-flight load, limits."""

from __future__ import annotations

import random
from collections import Counter

from gateway.resilience.circuit import CircuitBreaker, CircuitPolicy
from gateway.resilience.deployments import Deployment, earliest_ready, pick
from tests.resilience.fakes import FakeProvider


def dep(name: str, weight: float = 1.0, **kw: int) -> Deployment:
    policy = CircuitPolicy(failures=2, cooldown_s=10.0)
    return Deployment(name, "m", FakeProvider(name), "m-up", CircuitBreaker(policy), weight=weight, **kw)  # type: ignore[arg-type]


def test_idle_traffic_follows_the_weights() -> None:
    a, b = dep("a", 3.0), dep("b", 1.0)
    rng = random.Random(1)
    counts = Counter(pick([a, b], 0.0, rng=rng).name for _ in range(4000))  # type: ignore[union-attr]
    assert 0.70 < counts["a"] / 4000 < 0.80


def test_least_in_flight_among_equals() -> None:
    a, b = dep("a"), dep("b")
    a.in_flight = 2
    assert pick([a, b], 0.0) is b
    # Weighted: 2 in flight at weight 4 is less load than 1 at weight 1.
    c, d = dep("c", 4.0), dep("d", 1.0)
    c.in_flight, d.in_flight = 2, 1
    assert pick([c, d], 0.0) is c


def test_open_circuit_and_cool_down_are_skipped() -> None:
    a, b = dep("a"), dep("b")
    for _ in range(2):
        assert a.begin(0.0)
        a.end(0.0, ok=False)
    assert pick([a, b], 1.0) is b
    b.cool_down(1.0, 5.0)
    assert pick([a, b], 1.0) is None
    assert earliest_ready([a, b], 1.0) == 6.0
    assert pick([a, b], 6.0) is b
    # After a's cool-down it half-opens: one probe.
    assert pick([a], 10.0) is a


def test_exclude_prefers_untried() -> None:
    a, b = dep("a"), dep("b")
    assert pick([a, b], 0.0, exclude={"a"}) is b
    assert pick([a], 0.0, exclude={"a"}) is None


def test_own_limits() -> None:
    a = dep("a", max_parallel=1)
    assert a.begin(0.0)
    assert pick([a], 0.0) is None
    a.end(0.0, ok=True)
    assert pick([a], 0.0) is a
    r = dep("r", rpm=2)
    assert r.begin(0.0) and r.begin(1.0)
    assert not r.ready(2.0)
    assert r.ready(61.0)


def test_zero_weight_is_never_picked() -> None:
    assert pick([dep("z", 0.0)], 0.0) is None
