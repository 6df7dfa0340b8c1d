"""The two chat dialects the gateway speaks: OpenAI Chat Completions and Anthropic Messages.

This package holds what both dialects share: the request validation error (re-exported from
the one error tree, ``gateway.errors``), the error body builders, and the
reading of an upstream error body whatever its dialect. The typed request Structs live in
``openai_types`` and ``anthropic_types``; the SSE framing in ``sse``. Everything here is
pure: no I/O, no module-level mutable state.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from gateway.errors import RequestValidationError

T = TypeVar("T")

__all__ = [
    "RequestValidationError",
    "anthropic_error_body",
    "anthropic_error_type_for_status",
    "decode_body",
    "decode_request",
    "openai_error_body",
    "upstream_error_message",
    "validation_error_from_msgspec",
]


_AT_PATH = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")
_ENUM = re.compile(r"^Invalid enum value (?P<value>.+)$")
_TYPE_EXPR = re.compile(r"`([a-z| ]+)`")
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def _type_words(match: re.Match[str]) -> str:
    """Render ``int | null`` as ``an integer or null``: clients do not read msgspec type names."""
    names = [n.strip() for n in match.group(1).split("|")]
    return " or ".join(_TYPE_WORDS.get(n, n) for n in names)


def validation_error_from_msgspec(
    exc: msgspec.ValidationError, enums: dict[str, tuple[str, ...]] | None = None
) -> RequestValidationError:
    """Rewrite a msgspec validation error as ``"<field path>: <what to fix>"``.

    msgspec reports ``"Expected `str`, got `int` - at `$.messages[0].role`"``; clients
    read the field first, so the path moves to the front and loses its ``$.`` prefix.

    Args:
        exc: The error msgspec raised while converting the decoded body.
        enums: Allowed values per final field name (e.g. ``{"role": ("user", ...)}``) so
            an invalid enum value can list the accepted ones.
    """
    m = _AT_PATH.match(str(exc))
    what = m.group("what") if m else str(exc)
    path = (m.group("path") or "").lstrip(".") if m else ""
    if missing := _MISSING.match(what):
        field = missing.group("field")
        path = f"{path}.{field}" if path else field
        what = "required field is missing"
    elif enum := _ENUM.match(what):
        last = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
        allowed = (enums or {}).get(last)
        got = enum.group("value")
        what = f"expected one of {', '.join(allowed)}; got {got}" if allowed else f"invalid value {got}"
    else:
        what = _TYPE_EXPR.sub(_type_words, what[:1].lower() + what[1:])
    if not path:
        return RequestValidationError(what[:1].upper() + what[1:], None)
    return RequestValidationError(f"{path}: {what}", path)


_TOO_DEEP = "Request body is nested too deeply: arrays and objects may nest a few hundred levels at most"


def decode_body(body: bytes) -> dict[str, Any]:
    """Decode a request body once, insisting on a JSON object.

    Raises:
        RequestValidationError: The body is not UTF-8 JSON, is nested too deeply, or is not an object.
    """
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise RequestValidationError(f"Request body is not valid JSON: {exc}", None) from None
    except UnicodeDecodeError as exc:
        raise RequestValidationError(
            f"Request body is not valid UTF-8 (byte {exc.start}): JSON text must be UTF-8", None
        ) from None
    except RecursionError:
        raise RequestValidationError(_TOO_DEEP, None) from None
    if not isinstance(raw, dict):
        raise RequestValidationError("Request body must be a JSON object", None)
    return raw


def decode_request(body: bytes, typ: type[T], enums: dict[str, tuple[str, ...]]) -> tuple[dict[str, Any], T]:
    """Decode a chat request body once and validate it into ``typ`` (both dialects share this).

    Returns:
        The raw dict (kept for same-dialect pass-through of fields not typed here) and the typed
        request, whose ``messages`` is known to be non-empty.

    Raises:
        RequestValidationError: Naming the field to fix.
    """
    raw = decode_body(body)
    try:
        req = msgspec.convert(raw, typ)
    except msgspec.ValidationError as exc:
        raise validation_error_from_msgspec(exc, enums) from None
    except RecursionError:
        raise RequestValidationError(_TOO_DEEP, None) from None
    if not getattr(req, "messages", None):
        raise RequestValidationError("messages: must contain at least one message", "messages")
    return raw, req


def openai_error_body(message: str, type: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """An error body as the OpenAI API (and so the ``openai`` SDK) shapes it."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def anthropic_error_body(type: str, message: str) -> dict[str, Any]:
    """An error body as the Anthropic API (and so the ``anthropic`` SDK) shapes it."""
    return {"type": "error", "error": {"type": type, "message": message}}


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def anthropic_error_type_for_status(status: int) -> str:
    """The Anthropic error ``type`` for an HTTP status (``api_error`` for other 5xx)."""
    return _ANTHROPIC_TYPES.get(status, "invalid_request_error" if 400 <= status < 500 else "api_error")


def upstream_error_message(body: bytes) -> str:
    """Read the human message out of an upstream error body, whatever its dialect.

    Both dialects nest it under ``error.message``; OpenAI-compatible servers sometimes
    send ``{"error": "text"}``, ``{"message": ...}`` or ``{"detail": ...}``, and proxies
    send HTML or plain text. The client gets the upstream's words, never a stack of JSON.
    """
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return "upstream returned an empty error body"
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return text[:500]
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, str):
            return err
        if isinstance(err, dict):
            for key in ("message", "detail"):
                value = err.get(key)
                if isinstance(value, str) and value:
                    return value
    return text[:500]
