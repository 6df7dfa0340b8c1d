"""Deadlines: connect, time to first byte, idle gap between stream events, total.

The total deadline counts from the request's arrival. A client may lower it (never raise it)
with ``X-Gateway-Timeout-Ms: <milliseconds>``; a value the gateway cannot use is a 400 that
says what to send.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import InvalidRequest

TIMEOUT_HEADER = "x-gateway-timeout-ms"


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    connect_s: float = 10.0
    # Until the response headers of a streamed request (a non-streamed answer's headers come
    # only when the whole answer is ready, so only the total deadline bounds it).
    first_byte_s: float = 60.0
    idle_s: float = 300.0
    total_s: float = 600.0
    # Seconds of upstream silence on a stream before the client gets a keep-alive (0: never).
    keepalive_s: float = 15.0


def total_deadline_s(policy_total_s: float, header: str | None) -> float:
    """The request's total deadline in seconds: the setting, or the client's lower value."""
    if header is None:
        return policy_total_s
    text = header.strip()
    if not text.isdigit() or int(text) <= 0:
        raise InvalidRequest(
            f"X-Gateway-Timeout-Ms must be a positive whole number of milliseconds, got {header!r}",
            code="invalid_timeout",
            param="X-Gateway-Timeout-Ms",
        )
    return min(policy_total_s, int(text) / 1000.0)


@dataclass(slots=True)
class Deadline:
    """One request's total deadline on the event loop's clock."""

    at: float  # loop time when the request must be over

    def remaining(self, now: float) -> float:
        return max(0.0, self.at - now)

    def first_byte_wait(self, now: float, first_byte_s: float, *, stream: bool) -> float:
        """How long one attempt may wait for response headers."""
        left = self.remaining(now)
        return min(left, first_byte_s) if stream else left
