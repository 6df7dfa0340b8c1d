"""The one place where errors become HTTP responses, in the endpoint's own dialect.

``/v1/messages`` speaks Anthropic's error shape; every other path speaks OpenAI's.
Anything that is not a ``GatewayError`` is logged with its traceback and answered with a
500 that reveals nothing internal.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
import psycopg
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from psycopg_pool import PoolTimeout

from gateway.errors import GatewayError, InvalidRequest, NotFound, PayloadTooLarge, ServiceUnavailable
from gateway.pipeline.codecs import ANTHROPIC_MESSAGES, OPENAI_CHAT, Codec
from gateway.resilience.retry import retry_after_header

log = logging.getLogger(__name__)
_enc = msgspec.json.Encoder()
# Retry-After on 503s before the app's services exist (else GATEWAY_SERVICE_RETRY_AFTER_S).
_DEFAULT_RETRY_AFTER_S = 2.0


def codec_for_path(path: str) -> Codec:
    """The dialect an endpoint's errors speak: Anthropic's on /v1/messages, OpenAI's elsewhere."""
    return ANTHROPIC_MESSAGES if path.startswith("/v1/messages") else OPENAI_CHAT


def error_body(path: str, exc: GatewayError) -> bytes:
    """The error as the endpoint's dialect shapes it (the codecs own the shapes)."""
    return codec_for_path(path).error_body(exc)


def error_headers(exc: GatewayError, default_retry_after_s: float) -> dict[str, str]:
    """Headers an error carries: its own, and ``Retry-After`` on every 429 and 503.

    A provider's (or a limit's) hint is passed on; without one, ``default_retry_after_s``
    (GATEWAY_SERVICE_RETRY_AFTER_S), so clients back off instead of hammering.
    """
    headers = dict(exc.extra_headers or {})
    if exc.status in (429, 503):
        seconds = exc.retry_after_s if exc.retry_after_s is not None else default_retry_after_s
        headers["retry-after"] = retry_after_header(seconds)
    return headers


def error_response(path: str, exc: GatewayError, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(error_body(path, exc), status_code=exc.status, media_type="application/json", headers=headers)


def as_gateway_error(exc: Exception) -> GatewayError:
    """Any exception as the gateway error a caller sees (unknown ones become a logged 500)."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, psycopg.OperationalError | PoolTimeout):
        # The database is away: callers get a retryable 503; writes already accepted are spooled.
        if isinstance(exc, PoolTimeout):
            # A wait for a pooled connection is not proof of an outage (they may all be busy).
            return ServiceUnavailable(
                "the gateway could not get a database connection in time; retry shortly",
                code="database_wait",
                retry_after_s=1,
            )
        return ServiceUnavailable("the gateway cannot reach its database right now; retry shortly", retry_after_s=2)
    if isinstance(exc, RequestEntityTooLarge):
        return PayloadTooLarge("the request body is larger than this gateway accepts (GATEWAY_MAX_BODY_BYTES)")
    if isinstance(exc, NotFoundException):
        return NotFound("no such endpoint; see /schema for the API", code="unknown_endpoint")
    if isinstance(exc, MethodNotAllowedException):
        err = InvalidRequest(f"method not allowed: {exc.detail}", code="method_not_allowed")
        err.status = 405
        return err
    if isinstance(exc, ValidationException):
        return InvalidRequest(f"invalid request: {exc.detail} {exc.extra or ''}".strip())
    if isinstance(exc, HTTPException):
        http_err = InvalidRequest(str(exc.detail), code="http_error")
        http_err.status = exc.status_code
        return http_err
    return GatewayError("internal error; the gateway logged it with the request id")


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    gw = as_gateway_error(exc)
    if type(gw) is GatewayError:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # Routes behind the request-id middleware put their id in the scope; a path no route
    # matched never reached it, so its error gets a fresh one.
    rid = request.scope.get("state", {}).get("request_id") or str(uuid.uuid4())
    services = getattr(request.app.state, "services", None)
    default = services.settings.service_retry_after_s if services is not None else _DEFAULT_RETRY_AFTER_S
    headers = error_headers(gw, default)
    headers["x-request-id"] = rid
    return error_response(request.url.path, gw, headers)
