"""The circuit breaker's state machine, on a clock the test moves."""

from __future__ import annotations

from gateway.resilience.circuit import CircuitBreaker, CircuitPolicy, CircuitState

POLICY = CircuitPolicy(failures=3, failure_rate=0.5, window_s=10.0, min_requests=6, cooldown_s=5.0)


def fail(c: CircuitBreaker, now: float, n: int = 1) -> None:
    for _ in range(n):
        assert c.acquire(now)
        c.record(now, ok=False)


def test_opens_after_consecutive_failures() -> None:
    c = CircuitBreaker(POLICY)
    fail(c, 0.0, 2)
    assert c.state(0.0) is CircuitState.CLOSED
    fail(c, 0.0)
    assert c.state(0.0) is CircuitState.OPEN
    assert not c.available(1.0) and not c.acquire(1.0)


def test_success_resets_the_consecutive_count() -> None:
    c = CircuitBreaker(POLICY)
    fail(c, 0.0, 2)
    assert c.acquire(0.0)
    c.record(0.0, ok=True)
    fail(c, 0.0, 2)
    assert c.state(0.0) is CircuitState.CLOSED


def test_opens_on_failure_rate_over_the_window() -> None:
    c = CircuitBreaker(POLICY)
    # Alternating: never 3 in a row, but half of 6 failed.
    for i in range(6):
        assert c.acquire(float(i))
        c.record(float(i), ok=i % 2 == 0)
    assert c.state(6.0) is CircuitState.OPEN


def test_old_outcomes_leave_the_window() -> None:
    c = CircuitBreaker(POLICY)
    for i in range(3):
        assert c.acquire(0.0)
        c.record(0.0, ok=False) if i != 1 else c.record(0.0, ok=True)
    # 20 s later the earlier failures are out of the 10 s window.
    for i in range(5):
        assert c.acquire(20.0 + i)
        c.record(20.0 + i, ok=i != 0)
    assert c.state(25.0) is CircuitState.CLOSED


def test_half_open_lets_one_probe_and_closes_on_success() -> None:
    c = CircuitBreaker(POLICY)
    fail(c, 0.0, 3)
    assert c.state(4.9) is CircuitState.OPEN
    assert c.state(5.0) is CircuitState.HALF_OPEN
    assert c.acquire(5.0)
    assert not c.acquire(5.0), "only one probe in half-open"
    assert not c.available(5.1)
    c.record(5.2, ok=True)
    assert c.state(5.2) is CircuitState.CLOSED and c.acquire(5.2)


def test_failed_probe_opens_again_for_a_cooldown() -> None:
    c = CircuitBreaker(POLICY)
    fail(c, 0.0, 3)
    assert c.acquire(6.0)
    c.record(6.0, ok=False)
    assert c.state(6.0) is CircuitState.OPEN
    assert c.opens_again_at() == 11.0
    assert c.state(11.0) is CircuitState.HALF_OPEN
    assert c.opened_count == 2


def test_released_probe_frees_the_slot() -> None:
    c = CircuitBreaker(POLICY)
    fail(c, 0.0, 3)
    assert c.acquire(5.0)
    c.release()
    assert c.acquire(5.0)
