"""Attempt: one call of one model on one provider, up to the response head.

``ProviderAttempt`` is the one function every model call goes through: it sends the body,
times the wait, turns an error status into the gateway's own error (with the provider's
words, never its URL), counts the failure and logs one structured line for it. It returns
the response once its status is a success, before any body byte is read, so whatever wraps
it (retries before the first byte, fallbacks to other deployments, circuit breakers) can
still choose to try again.

To extend: write a class with the same ``__call__`` that wraps an inner ``Attempt`` (e.g.
``Retrying(ProviderAttempt(...))``) and pass it as ``Services.attempt``.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

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
from gateway.metrics import Metrics
from gateway.pipeline.context import ModelCall
from gateway.providers.upstream import UpstreamResponse

log = logging.getLogger(__name__)


class Attempt(Protocol):
    """Send one model call's body; return a successful response head or raise ``GatewayError``."""

    async def __call__(self, call: ModelCall, body: bytes) -> UpstreamResponse: ...


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
    if status == 504:
        return UpstreamTimeout(f"the provider '{provider}' timed out: {said}")
    return UpstreamError(f"the provider '{provider}' failed ({status}): {said}")


class ProviderAttempt:
    """The plain attempt: one send to the call's provider, no retry."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(self, call: ModelCall, body: bytes) -> UpstreamResponse:
        provider = call.provider
        t0 = time.perf_counter()
        try:
            resp = await provider.send(body, call.forward_headers)
        except UpstreamError as exc:
            call.upstream_wait += time.perf_counter() - t0
            report_failure(self._metrics, call, exc.code, None, exc)
            raise
        if resp.status < 400:
            call.upstream_wait += time.perf_counter() - t0
            return resp
        try:
            error_body = await resp.read()
        except UpstreamError:
            error_body = b""
        call.upstream_wait += time.perf_counter() - t0
        failure = upstream_failure(provider.name, resp.status, error_body)
        report_failure(self._metrics, call, f"http_{resp.status}", resp.status, failure)
        raise failure


def report_failure(
    metrics: Metrics, call: ModelCall, reason: str, status: int | None, exc: BaseException | None = None
) -> None:
    """Count an upstream failure and write its one log line, with fields a log pipeline can index.

    The line carries what clients are not shown: the client library's own words (the cause
    chained to the gateway's error).
    """
    metrics.upstream_errors.labels(call.provider.name, reason).inc()
    cause = exc.__cause__ if exc is not None and exc.__cause__ is not None else exc
    detail = f"{type(cause).__name__}: {cause}" if cause is not None else "-"
    log.warning(
        "upstream failure provider=%s model=%s request_id=%s reason=%s status=%s detail=%s",
        call.provider.name,
        call.entry.id,
        call.request_id,
        reason,
        status if status is not None else "-",
        detail,
        extra={
            "provider": call.provider.name,
            "model": call.entry.id,
            "request_id": call.request_id,
            "reason": reason,
            "upstream_status": status,
            "detail": detail,
        },
    )
