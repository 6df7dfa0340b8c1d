"""The gateway's one error tree.

Every failure a caller can see is a ``GatewayError``; ``gateway.http.errors`` maps it to
an HTTP status and to the body of the endpoint's own dialect, in one place::

    GatewayError                      status  OpenAI type / Anthropic type
    ├── InvalidRequest                400     invalid_request_error / invalid_request_error
    │   └── RequestValidationError    400     (a body the parser or a translator refuses)
    ├── Unauthenticated               401     authentication_error / authentication_error
    ├── BudgetExhausted               402     insufficient_quota / billing_error
    ├── Forbidden                     403     permission_error / permission_error
    ├── NotFound                      404     not_found_error / not_found_error
    ├── Conflict                      409     invalid_request_error / invalid_request_error
    ├── PayloadTooLarge               413     invalid_request_error / request_too_large
    ├── RateLimited                   429     rate_limit_error / rate_limit_error
    └── UpstreamError                 502     upstream_error / api_error
        ├── UpstreamUnavailable       503     upstream_error / overloaded_error
        └── UpstreamTimeout           504     upstream_error / timeout_error

``code`` is a short machine-readable reason (``model_not_found``, ``tier_not_allowed``…).
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error a caller can see."""

    status = 500
    openai_type = "server_error"
    anthropic_type = "api_error"
    default_code = "internal_error"
    # Seconds a client should wait before retrying; sent as ``Retry-After`` (429 and 503).
    retry_after_s: float | None = None
    # Headers the error response carries besides the defaults (e.g. X-Gateway-Attempts).
    extra_headers: dict[str, str] | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after_s: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        if retry_after_s is not None:
            self.retry_after_s = float(max(1, retry_after_s))
        if headers:
            self.extra_headers = dict(headers)

    @property
    def headers(self) -> dict[str, str]:
        """The extra response headers, with ``Retry-After`` when the error names a wait.

        ``gateway.http.errors.error_headers`` adds the default wait on 429/503 that name none.
        """
        out = dict(self.extra_headers or {})
        if self.retry_after_s is not None:
            out["retry-after"] = str(max(1, round(self.retry_after_s)))
        return out


class InvalidRequest(GatewayError):
    status = 400
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "invalid_request"


class RequestValidationError(InvalidRequest):
    """A client request body the gateway refuses (parser or translator), naming what to fix.

    Attributes:
        message: Human-readable, names the offending field first
            (``"messages[2].role: expected one of ..."``) so the client can fix it.
        param: The offending field's path (``"messages[2].role"``) or None when the
            problem is the body as a whole (malformed JSON).
    """

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message, param=param)


class Unauthenticated(GatewayError):
    status = 401
    openai_type = "authentication_error"
    anthropic_type = "authentication_error"
    default_code = "invalid_api_key"


class BudgetExhausted(GatewayError):
    status = 402
    openai_type = "insufficient_quota"
    anthropic_type = "billing_error"
    default_code = "budget_exhausted"


class Forbidden(GatewayError):
    status = 403
    openai_type = "permission_error"
    anthropic_type = "permission_error"
    default_code = "forbidden"


class NotFound(GatewayError):
    status = 404
    openai_type = "not_found_error"
    anthropic_type = "not_found_error"
    default_code = "not_found"


class Conflict(GatewayError):
    """The change contradicts the current state (voting twice on a battle, another organization's e-mail)."""

    status = 409
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "conflict"


class PayloadTooLarge(GatewayError):
    status = 413
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"
    default_code = "body_too_large"


class RateLimited(GatewayError):
    status = 429
    openai_type = "rate_limit_error"
    anthropic_type = "rate_limit_error"
    default_code = "rate_limited"


class UpstreamError(GatewayError):
    """The provider failed or answered with something unusable."""

    status = 502
    openai_type = "upstream_error"
    anthropic_type = "api_error"
    default_code = "upstream_error"


class UpstreamUnavailable(UpstreamError):
    status = 503
    anthropic_type = "overloaded_error"
    default_code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    anthropic_type = "timeout_error"
    default_code = "upstream_timeout"
    # True when the provider sent no response headers in time (safe to retry elsewhere).
    before_headers = False


class ServiceUnavailable(GatewayError):
    """The gateway itself cannot serve right now (e.g. its database is unreachable on a cold cache)."""

    status = 503
    openai_type = "server_error"
    anthropic_type = "overloaded_error"
    default_code = "service_unavailable"


class RequestTimeout(GatewayError):
    """The client did not send the request's headers or body in time (server read timeouts)."""

    status = 408
    openai_type = "invalid_request_error"
    anthropic_type = "timeout_error"
    default_code = "request_timeout"


class UriTooLong(GatewayError):
    """The request line is longer than the server reads (``GATEWAY_MAX_HEADER_LINE_BYTES``)."""

    status = 414
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "uri_too_long"


class HeadersTooLarge(GatewayError):
    """Too many request headers, one too long, or all of them too large together."""

    status = 431
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "request_header_fields_too_large"
