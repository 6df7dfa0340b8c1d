"""Retry policy: classification, backoff with full jitter, and the providers' wait hints."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from gateway.resilience.retry import (
    backoff_s,
    counts_as_failure,
    is_retryable,
    parse_duration,
    retry_after_header,
    retry_after_s,
)

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int) -> None:
    assert is_retryable(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 200])
def test_refusals_are_never_retried(status: int) -> None:
    assert not is_retryable(status)


def test_rate_limits_do_not_count_against_the_circuit() -> None:
    assert counts_as_failure(529) and counts_as_failure(500)
    assert not counts_as_failure(429) and not counts_as_failure(408) and not counts_as_failure(400)


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(0, 0.25), (1, 0.5), (2, 1.0), (3, 2.0), (10, 4.0)]:
        samples = [backoff_s(attempt, 0.25, 4.0, rng) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # Full jitter: spread over the whole range, not clustered at the ceiling.
        assert min(samples) < ceiling * 0.2 and max(samples) > ceiling * 0.8


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("2.5", 2.5), ("", None), ("soon", None)],
)
def test_openai_reset_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after_seconds_and_ms() -> None:
    assert retry_after_s({"retry-after": "7"}, NOW) == 7.0
    # retry-after-ms is more precise and wins.
    assert retry_after_s({"retry-after": "7", "retry-after-ms": "1500"}, NOW) == 1.5


def test_retry_after_http_date() -> None:
    when = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert retry_after_s({"retry-after": when}, NOW) == pytest.approx(30.0)


def test_reset_headers_of_exhausted_windows_only() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2s",
        "x-ratelimit-remaining-tokens": "5000",
        "x-ratelimit-reset-tokens": "45s",
    }
    assert retry_after_s(headers, NOW) == 2.0
    anthropic = {
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": (NOW + timedelta(seconds=12)).isoformat().replace("+00:00", "Z"),
    }
    assert retry_after_s(anthropic, NOW) == pytest.approx(12.0)


def test_no_hint() -> None:
    assert retry_after_s({"content-type": "application/json"}, NOW) is None


def test_retry_after_header_rounds_up() -> None:
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(7.0) == "7"
    assert retry_after_header(7.01) == "8"
