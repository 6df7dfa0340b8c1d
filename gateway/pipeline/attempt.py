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
from collections.abc import Mapping
from typing import Protocol

from gateway.errors import UpstreamError
from gateway.metrics import Metrics
from gateway.pipeline.context import ModelCall, RequestContext
from gateway.providers.base import EndpointProvider, Provider
from gateway.providers.upstream import UpstreamResponse
from gateway.resilience.attempts import upstream_failure

log = logging.getLogger(__name__)


class Attempt(Protocol):
    """Send one model call's body; return a successful response head or raise ``GatewayError``.

    ``ctx`` is the client request, for attempts that may rebuild the body for another model
    (``gateway.resilience.seam.ResilientAttempt``: fallbacks in the other dialect).
    """

    async def __call__(self, call: ModelCall, body: bytes, ctx: RequestContext | None = None) -> UpstreamResponse: ...


class ProviderAttempt:
    """The plain attempt: one send to the call's provider, no retry."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(self, call: ModelCall, body: bytes, ctx: RequestContext | None = None) -> UpstreamResponse:
        provider = call.provider
        t0 = time.perf_counter()
        try:
            path = call.route.upstream_path
            # Side endpoints (the native Responses route) need a provider that serves them.
            if path is None:
                resp = await provider.send(body, call.forward_headers)
            else:
                resp = await _send_to(provider, path, body, call.forward_headers)
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


async def _send_to(provider: Provider, path: str, body: bytes, headers: Mapping[str, str] | None) -> UpstreamResponse:
    if not isinstance(provider, EndpointProvider):
        raise UpstreamError(f"the provider '{provider.name}' has no {path} endpoint", code="upstream_unsupported")
    return await provider.send_to(path, body, headers)


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
