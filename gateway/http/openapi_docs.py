"""The error bodies the gateway really sends, as typed schemas for the OpenAPI document.

Every non-proxy endpoint answers errors in OpenAI's shape (``gateway.http.errors``);
``/v1/messages`` answers in Anthropic's. Handlers list the statuses they can return with
:func:`error_responses`, so the document names the real body for each.
"""

from __future__ import annotations

import msgspec
from litestar.openapi.datastructures import ResponseSpec


class OpenAIErrorDetail(msgspec.Struct, frozen=True):
    message: str
    type: str
    param: str | None
    code: str


class OpenAIError(msgspec.Struct, frozen=True):
    """``{"error": {...}}``: every endpoint except ``/v1/messages``."""

    error: OpenAIErrorDetail


class AnthropicErrorDetail(msgspec.Struct, frozen=True):
    type: str
    message: str


class AnthropicError(msgspec.Struct, frozen=True):
    """``{"type": "error", "error": {...}}``: ``/v1/messages``."""

    type: str
    error: AnthropicErrorDetail


_WHY = {
    400: "invalid request (bad body, parameter or value)",
    401: "missing, malformed, revoked or expired credentials",
    402: "the organization's budget is exhausted",
    403: "the caller's role or organization does not allow this",
    404: "no such resource in the caller's organization",
    409: "the change conflicts with the current state",
    413: "the body is larger than GATEWAY_MAX_BODY_BYTES",
    429: "rate limited",
    502: "the provider failed",
    503: "the gateway or the provider is unavailable; retry",
    504: "the provider timed out",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for these statuses, each with the OpenAI-shaped error body."""
    return {s: ResponseSpec(data_container=OpenAIError, description=_WHY[s]) for s in statuses}
