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
        # Extra response headers (Retry-After on 429/503, x-ratelimit-* on 429).
        self.headers: dict[str, str] = dict(headers or {})
        if retry_after_s is not None:
            self.headers["retry-after"] = str(max(1, retry_after_s))


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


class ServiceUnavailable(GatewayError):
    """The gateway itself cannot serve right now (e.g. its database is unreachable on a cold cache)."""

    status = 503
    openai_type = "server_error"
    anthropic_type = "overloaded_error"
    default_code = "service_unavailable"
