"""A per-deployment circuit breaker.

Closed: requests flow; each outcome is recorded. It opens after ``failures`` consecutive
failures, or when at least ``min_requests`` outcomes in the last ``window_s`` seconds (counted in
tenths of the window) have a
failure share of ``failure_rate`` or more. Open: the deployment is skipped until ``cooldown_s``
has passed; then it is half-open and lets exactly one probe through. The probe's success
closes the circuit (counts reset); its failure opens it for another cool-down.

State is per process (a cache that may be lost at any time): every replica learns on its own.
The clock is passed in, so the state machine is tested without sleeping.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum

_BUCKETS = 10


class CircuitState(IntEnum):
    """Values as ``gateway_circuit_state`` exports them."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True, slots=True)
class CircuitPolicy:
    failures: int = 5
    failure_rate: float = 0.5
    window_s: float = 30.0
    min_requests: int = 10
    cooldown_s: float = 15.0


class CircuitBreaker:
    """One deployment's circuit. Not thread-safe; one event loop owns it."""

    __slots__ = (
        "_buckets",
        "_half_open_busy",
        "_opened_at",
        "_policy",
        "_state",
        "_width",
        "consecutive",
        "opened_count",
    )

    def __init__(self, policy: CircuitPolicy) -> None:
        self._policy = policy
        self._state = CircuitState.CLOSED
        self._opened_at = 0.0
        self._half_open_busy = False
        # The rate window as _BUCKETS counters [bucket number, outcomes, failures]: recording
        # an outcome is a couple of integer operations, whatever the request rate.
        self._width = max(policy.window_s / _BUCKETS, 1e-6)
        self._buckets: deque[list[int]] = deque()
        self.consecutive = 0
        self.opened_count = 0

    def state(self, now: float) -> CircuitState:
        """The state at ``now`` (an open circuit whose cool-down is over reads as half-open)."""
        if self._state is CircuitState.OPEN and now - self._opened_at >= self._policy.cooldown_s:
            return CircuitState.HALF_OPEN
        return self._state

    def is_closed(self) -> bool:
        """Closed (the healthy case: no probe to claim, no cool-down to check)."""
        return self._state is CircuitState.CLOSED

    def available(self, now: float) -> bool:
        """True when a request may be sent now (closed, or half-open with no probe in flight)."""
        if self._state is CircuitState.CLOSED:
            return True
        state = self.state(now)
        if state is CircuitState.CLOSED:
            return True
        return state is CircuitState.HALF_OPEN and not self._half_open_busy

    def opens_again_at(self) -> float | None:
        """When an open circuit half-opens (None unless open)."""
        if self._state is CircuitState.OPEN:
            return self._opened_at + self._policy.cooldown_s
        return None

    def acquire(self, now: float) -> bool:
        """Claim the right to send one request; in half-open that is the single probe."""
        if self._state is CircuitState.CLOSED:
            return True
        state = self.state(now)
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._half_open_busy:
            self._state = CircuitState.HALF_OPEN
            self._half_open_busy = True
            return True
        return False

    def record(self, now: float, *, ok: bool) -> None:
        """The outcome of a request ``acquire`` let through."""
        if self._state is CircuitState.HALF_OPEN:
            self._half_open_busy = False
            if ok:
                self._close()
            else:
                self._open(now)
            return
        if self._state is CircuitState.OPEN:
            return  # a request sent before the circuit opened; the cool-down stands
        buckets = self._buckets
        number = int(now / self._width)
        if buckets and buckets[-1][0] == number:
            bucket = buckets[-1]
        else:
            bucket = [number, 0, 0]
            buckets.append(bucket)
            while buckets[0][0] <= number - _BUCKETS:
                buckets.popleft()
        bucket[1] += 1
        if ok:
            self.consecutive = 0
            return
        bucket[2] += 1
        self.consecutive += 1
        p = self._policy
        if self.consecutive >= p.failures:
            self._open(now)
            return
        total = sum(b[1] for b in buckets)
        if total >= p.min_requests and sum(b[2] for b in buckets) / total >= p.failure_rate:
            self._open(now)

    def release(self) -> None:
        """A claimed request ended without a verdict (e.g. the client left): free the probe slot."""
        if self._state is CircuitState.HALF_OPEN:
            self._half_open_busy = False

    def reset(self) -> None:
        """Forget everything (closed, no history): what a restart does."""
        self._close()
        self._half_open_busy = False

    def _open(self, now: float) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = now
        self._buckets.clear()
        self.consecutive = 0
        self.opened_count += 1

    def _close(self) -> None:
        self._state = CircuitState.CLOSED
        self._buckets.clear()
        self.consecutive = 0
