"""Retry policy: what is retried, how long to wait, and what the provider asked for.

Only failures before the first byte reach the client are retried (the attempt loop enforces
that). A status is retried when a second try may succeed without changing the request: the
provider was overloaded, rate limited, timed out, or failed internally. A request the
provider refused (400, 401, 403, 404, 413, 422) fails the same way every time, so it never is.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# 408 request timeout, 409 conflict (OpenAI's "try again"), 429 rate limited, 5xx, and
# Anthropic's 529 overloaded.
RETRYABLE_STATUSES: frozenset[int] = frozenset((408, 409, 429, 500, 502, 503, 504, 529))
# Statuses that say the deployment itself is unhealthy (they count against its circuit).
# 408/409/429 are about this request or a rate window, not the deployment's health.
UNHEALTHY_STATUSES: frozenset[int] = frozenset((500, 502, 503, 504, 529))

# A hint longer than this is not waited for inside one request; the deployment is only
# marked as cooling down until then (and the client told via Retry-After).
MAX_HINT_S = 3600.0


def is_retryable(status: int) -> bool:
    """True when a second attempt at this upstream status may succeed."""
    return status in RETRYABLE_STATUSES


def counts_as_failure(status: int) -> bool:
    """True when this upstream status counts against the deployment's circuit."""
    return status in UNHEALTHY_STATUSES


def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)].

    ``attempt`` counts retries already made (0 before the first retry). Full jitter spreads
    the retries of many clients hit by the same failure, so they do not arrive together.
    """
    ceiling = min(cap_s, base_s * (2 ** max(0, attempt)))
    return (rng or random).uniform(0.0, ceiling) if ceiling > 0 else 0.0


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str) -> float | None:
    """OpenAI's reset format (``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"``) or plain seconds."""
    text = value.strip().lower()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    return total if pos == len(text) else None


def _seconds_until(value: str, now: datetime) -> float | None:
    """An HTTP date (``Retry-After``) or an RFC 3339 time (Anthropic's reset headers) from now."""
    text = value.strip()
    when: datetime | None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """How long the provider asked the gateway to wait before the next request, if it said.

    Reads ``retry-after-ms`` (most precise), then ``Retry-After`` (seconds or an HTTP date),
    then the rate-limit reset headers (``x-ratelimit-reset-requests``/``-tokens`` in OpenAI's
    duration format, ``anthropic-ratelimit-*-reset`` as RFC 3339 times) of the windows that
    are exhausted (remaining 0, or not said); with several the longest wins, since every
    exhausted window must reopen. ``headers`` keys are lower-case.
    """
    at = now or datetime.now(UTC)
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return min(MAX_HINT_S, max(0.0, float(ms) / 1000.0))
        except ValueError:
            pass
    after = headers.get("retry-after")
    if after is not None:
        try:
            return min(MAX_HINT_S, max(0.0, float(after)))
        except ValueError:
            seconds = _seconds_until(after, at)
            if seconds is not None:
                return min(MAX_HINT_S, seconds)
    resets: list[float] = []
    for name, value in headers.items():
        if name.startswith("x-ratelimit-reset-"):
            remaining = headers.get("x-ratelimit-remaining-" + name.removeprefix("x-ratelimit-reset-"))
            parsed = parse_duration(value)
        elif name.startswith("anthropic-ratelimit-") and name.endswith("-reset"):
            remaining = headers.get(name.removesuffix("-reset") + "-remaining")
            parsed = _seconds_until(value, at)
        else:
            continue
        # A window with requests or tokens left is not what refused this one.
        if parsed is not None and (remaining is None or remaining.strip() in ("0", "0.0")):
            resets.append(parsed)
    return min(MAX_HINT_S, max(resets)) if resets else None


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` as HTTP wants it: whole seconds, rounded up, at least 1."""
    whole = int(seconds)
    return str(max(1, whole + (1 if seconds > whole else 0)))
