"""The attempt loop: deployment pick, provider call, retry before the first byte, fallback.

``run_attempts`` tries the primary model's deployments, then each fallback model's, until one
answers with a 2xx (whose body or stream the caller then relays) or the request's attempt
count, retry time budget or total deadline is spent. What it needs from the request path is
one callable, ``send(model, deployment, first_byte_wait_s)``, so it knows nothing of dialects,
codecs or settlement.

- A retryable failure (connection error, no headers in time, 408/409/429/5xx/529) moves to
  another deployment of the same model at once; the same deployment is tried again only after
  an exponential backoff with full jitter, and never before its ``Retry-After``.
- A model is exhausted, and the next model of the chain tried, once each of its deployments
  was tried (a model with one deployment: twice) or none may take a request now.
- A refusal (any other 4xx) ends the loop at once: the request itself is wrong.
- When no attempt is left, the last failure is raised with the provider's ``Retry-After``
  (or, when every circuit is open, the time until one half-opens).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gateway.config import ModelEntry
from gateway.dialects import upstream_error_message
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.providers.upstream import UpstreamResponse
from gateway.resilience.deadlines import Deadline
from gateway.resilience.deployments import Deployment, earliest_ready, pick
from gateway.resilience.retry import backoff_s, counts_as_failure, is_retryable, retry_after_s

_dec = msgspec.json.Decoder()

Send = Callable[[ModelEntry, Deployment, float], Awaitable[UpstreamResponse]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 4
    budget_s: float = 30.0
    backoff_base_s: float = 0.25
    backoff_max_s: float = 4.0
    # The longest Retry-After waited for inside one request; longer ones go to the client.
    max_wait_s: float = 10.0


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    """One attempt that did not serve, for metrics, logs and (when it returned tokens) billing."""

    model: ModelEntry
    deployment: str
    error: GatewayError
    status: int | None  # the provider's HTTP status; None for a transport failure
    dialect: str = "openai"  # the deployment's dialect, to read ``usage``
    # Provider usage the failed attempt reported, if any (a billable failure).
    usage: dict[str, Any] | None = None


@dataclass(slots=True)
class Served:
    """The attempt that answered 2xx: the caller relays ``response``, then ends ``deployment``'s slot."""

    response: UpstreamResponse
    model: ModelEntry
    deployment: Deployment
    attempts: int
    failures: list[FailedAttempt] = field(default_factory=list)
    fell_back_from: str | None = None  # the primary model id when a fallback served


def upstream_failure(provider: str, status: int, body: bytes) -> GatewayError:
    """An upstream error status as the gateway's own error, with the provider's words."""
    said = upstream_error_message(body)
    if status in (400, 422):
        return InvalidRequest(f"the provider refused the request: {said}", code="upstream_invalid_request")
    if status == 413:
        return PayloadTooLarge(f"the provider says the request is too large: {said}")
    if status == 429:
        return RateLimited(f"the provider is rate limiting: {said}", code="upstream_rate_limited")
    if status in (401, 403):
        return UpstreamError(
            f"the provider '{provider}' refused the gateway's credentials ({status}): {said}",
            code="upstream_auth",
        )
    if status in (503, 529):
        return UpstreamUnavailable(f"the provider '{provider}' is overloaded or unavailable: {said}")
    if status in (408, 504):
        return UpstreamTimeout(f"the provider '{provider}' timed out: {said}")
    return UpstreamError(f"the provider '{provider}' failed ({status}): {said}")


async def run_attempts(
    primary: ModelEntry,
    fallbacks: Callable[[], Sequence[ModelEntry]],
    deployments: Mapping[str, Sequence[Deployment]],
    send: Send,
    *,
    policy: RetryPolicy,
    deadline: Deadline,
    first_byte_s: float,
    stream: bool,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    on_failure: Callable[[FailedAttempt], None] | None = None,
    first_failure: tuple[Deployment, GatewayError, int | None] | None = None,
) -> Served:
    """Try ``primary``, then (lazily: only once it failed) ``fallbacks()``; raise the last failure.

    The healthy path never computes the fallback chain. ``first_failure``: the caller already
    made the first attempt itself (its deployment, failure and status) and the loop goes on
    from there.
    """
    started = clock()
    attempts = 0
    failures: list[FailedAttempt] = []
    last: GatewayError | None = None
    hint: float | None = None  # the last Retry-After the providers gave
    blocked_until: float | None = None  # when the first held-back deployment frees up
    first_tried: dict[str, int] = {}

    def failed(entry: ModelEntry, dep: Deployment, failure: GatewayError, status: int | None) -> None:
        record = FailedAttempt(entry, dep.name, failure, status, dep.provider.dialect, _reported_usage(failure))
        failures.append(record)
        if on_failure is not None:
            on_failure(record)
        if status is not None and not is_retryable(status):
            raise failure

    if first_failure is not None:
        tried_dep, first_error, first_status = first_failure
        attempts, first_tried[tried_dep.name] = 1, 1
        last, hint = first_error, first_error.retry_after_s
        failed(primary, tried_dep, first_error, first_status)
    else:
        # The healthy path: one pick, one attempt, nothing else set up.
        first = pick(deployments.get(primary.id, ()), started)
        if first is not None and first.begin(started):
            wait_s = deadline.first_byte_wait(started, first_byte_s, stream=stream)
            failure, status, resp = await _one(primary, first, send, wait_s, clock)
            if resp is not None:
                return Served(resp, primary, first, 1)
            assert failure is not None
            attempts, first_tried[first.name] = 1, 1
            last, hint = failure, failure.retry_after_s
            failed(primary, first, failure, status)
    chain: list[ModelEntry] = [primary]
    expanded = False

    def out_of_time(now: float, extra: float = 0.0) -> bool:
        return now + extra - started > policy.budget_s or deadline.remaining(now) <= extra

    def has_next(index: int) -> bool:
        nonlocal expanded
        if not expanded:
            expanded = True
            chain.extend(m for m in fallbacks() if m.id != primary.id)
        return index < len(chain) - 1

    index = 0
    while index < len(chain):
        entry = chain[index]
        pool = deployments.get(entry.id, ())
        tried: dict[str, int] = first_tried if index == 0 else {}
        # With a fallback left, a model is exhausted once each deployment was tried (a lone
        # deployment twice: its transient failure is the common case); without one, the
        # remaining attempts all go to this model.
        per_deployment = 2 if len(pool) == 1 else 1
        while attempts < policy.max_attempts:
            now = clock()
            if attempts and out_of_time(now):
                break
            if attempts and all(tried.get(d.name, 0) >= per_deployment for d in pool) and has_next(index):
                break
            dep = pick(pool, now, exclude=tried) or pick(pool, now)
            if dep is None:
                ready = earliest_ready(pool, now)
                if ready is not None and ready - now <= policy.max_wait_s and not out_of_time(now, ready - now):
                    await sleep(ready - now)
                    continue
                soonest = ready if ready is not None else _soonest_half_open(pool, now)
                if soonest is not None:
                    blocked_until = soonest if blocked_until is None else min(blocked_until, soonest)
                break
            again = tried.get(dep.name, 0)
            if again:
                # The same deployment once more: back off (full jitter) so a struggling one recovers.
                pause = backoff_s(again - 1, policy.backoff_base_s, policy.backoff_max_s, rng)
                if out_of_time(now, pause):
                    break
                await sleep(pause)
                now = clock()
                if not dep.ready(now):
                    continue
            tried[dep.name] = again + 1
            if not dep.begin(now):
                continue
            attempts += 1
            wait_s = deadline.first_byte_wait(now, first_byte_s, stream=stream)
            failure, status, resp = await _one(entry, dep, send, wait_s, clock)
            if resp is not None:
                return Served(resp, entry, dep, attempts, failures, None if entry is primary else primary.id)
            assert failure is not None
            last = failure
            if failure.retry_after_s is not None:
                hint = failure.retry_after_s
            failed(entry, dep, failure, status)
        if attempts >= policy.max_attempts or (attempts and out_of_time(clock())) or not has_next(index):
            break
        index += 1
    if last is None:
        wait = (blocked_until - clock()) if blocked_until is not None else None
        names = ", ".join(m.id for m in chain)
        err = UpstreamUnavailable(
            f"no deployment of {names} can take a request now (circuits open or cooling down); retry shortly",
            code="no_deployment_available",
        )
        err.retry_after_s = max(1.0, wait) if wait is not None else 1.0
        raise err
    if hint is not None and last.retry_after_s is None and last.status in (429, 503):
        last.retry_after_s = hint
    raise last


def _soonest_half_open(pool: Sequence[Deployment], now: float) -> float | None:
    times = [d.circuit.opens_again_at() for d in pool if not d.circuit.available(now)]
    found = [t for t in times if t is not None]
    return min(found) if found else None


def _body_usage(body: bytes) -> dict[str, Any] | None:
    """The ``usage`` object of an error body, when it has one with any token counted."""
    if b'"usage"' not in body:
        return None
    try:
        obj = _dec.decode(body)
    except msgspec.DecodeError:
        return None
    usage = obj.get("usage") if isinstance(obj, dict) else None
    if isinstance(usage, dict) and any(isinstance(v, int) and v > 0 for v in usage.values()):
        return usage
    return None


def _reported_usage(failure: GatewayError) -> dict[str, Any] | None:
    usage = getattr(failure, "usage", None)
    return usage if isinstance(usage, dict) else None


async def _one(
    entry: ModelEntry, dep: Deployment, send: Send, wait_s: float, clock: Callable[[], float]
) -> tuple[GatewayError | None, int | None, UpstreamResponse | None]:
    """One attempt: the 2xx response, or the failure (with the provider's status, if any)."""
    try:
        resp = await send(entry, dep, wait_s)
    except UpstreamError as exc:
        dep.end(clock(), ok=False)
        return exc, None, None
    except BaseException:  # re-raised: only the deployment's slot is freed (no circuit verdict)
        dep.end(clock(), ok=None)
        raise
    if resp.status < 400:
        return None, None, resp
    failure, status = await refused(dep, resp, clock)
    return failure, status, None


async def refused(dep: Deployment, resp: UpstreamResponse, clock: Callable[[], float]) -> tuple[GatewayError, int]:
    """An error status from ``dep``: read it, honour its ``Retry-After``, end the attempt."""
    try:
        body = await resp.read()
    except UpstreamError:
        body = b""
    now = clock()
    failure = upstream_failure(dep.name, resp.status, body)
    # Some error bodies report the tokens spent before the failure; those are billed.
    reported = _body_usage(body)
    if reported is not None:
        failure.usage = reported  # type: ignore[attr-defined]
    seconds = retry_after_s(resp.headers)
    if seconds is not None:
        dep.cool_down(now, seconds)
        failure.retry_after_s = seconds
    dep.end(now, ok=not counts_as_failure(resp.status))
    return failure, resp.status
