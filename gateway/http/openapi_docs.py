"""The error bodies the gateway really sends, as typed schemas for the OpenAPI document.

Every non-proxy endpoint answers errors in OpenAI's shape (``gateway.http.errors``);
``/v1/messages`` answers in Anthropic's. Handlers list the statuses they can return with
:func:`error_responses`, so the document names the real body for each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Request
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, RapidocRenderPlugin


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


def error_responses(*statuses: int, anthropic: bool = False) -> dict[int, ResponseSpec]:
    """OpenAPI responses for these statuses, each with the endpoint's error body (OpenAI's by default)."""
    shape: type[Any] = AnthropicError if anthropic else OpenAIError
    return {s: ResponseSpec(data_container=shape, description=_WHY[s]) for s in statuses}


# ---- finishing the generated document -------------------------------------------------
# Litestar documents its own route handlers; three things it cannot see are added here:
# the two proxy doors (plain ASGI handlers), the report parameters (read from the query
# string by shared code, so the CLI and HTTP validate alike), and the gateway's real
# error bodies in place of litestar's default 400 shape.

_REF = "#/components/schemas/{name}"
_FINISHED = "x-gateway-finished"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _components() -> dict[str, Any]:
    from gateway.dialects.anthropic_types import MessagesRequest
    from gateway.dialects.openai_types import ChatCompletionRequest
    from gateway.http.proxy_schemas import ChatCompletion, Message
    from gateway.reports.format import Report
    from router.config import RouterConfig

    types = (ChatCompletionRequest, MessagesRequest, ChatCompletion, Message, OpenAIError, AnthropicError)
    _, components = msgspec.json.schema_components((*types, Report, RouterConfig), ref_template=_REF)
    return components


_EXAMPLES: dict[str, dict[str, Any]] = {
    "ChatCompletionRequest": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}]},
    "MessagesRequest": {
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say hello."}],
    },
}


def _proxy_operation(request: str, response: str, error: str, summary: str, statuses: Sequence[int]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": 'the answer; with "stream": true, server-sent events in the same dialect',
            "content": {
                "application/json": {"schema": _ref(response)},
                "text/event-stream": {"schema": {"type": "string"}},
            },
        }
    }
    for s in statuses:
        responses[str(s)] = _json(error, _WHY[s])
    return {
        "summary": summary,
        "operationId": "Proxy" + request,
        "parameters": [
            {
                "name": "x-conversation-id",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "the main application's conversation id (turns are numbered per conversation)",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(request), "example": _EXAMPLES[request]}},
        },
        "responses": responses,
    }


def _report_parameters() -> list[dict[str, Any]]:
    from gateway.reports.params import FORMATS, GROUP_KEYS

    keys = "|".join(GROUP_KEYS)
    return [
        {
            "name": "from",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "format": "date"},
            "description": "first local day included (default: 30 days before 'to')",
        },
        {
            "name": "to",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "format": "date"},
            "description": "last local day included (default: today)",
        },
        {
            "name": "group_by",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "pattern": f"^({keys})(,({keys}))*$"},
            "description": "comma-separated group keys: " + ", ".join(GROUP_KEYS),
        },
        {
            "name": "tz",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "IANA time zone whose midnights cut days (default UTC)",
        },
        {
            "name": "format",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(FORMATS)},
            "description": "json (default) or csv",
        },
        {
            "name": "user_id",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "format": "uuid"},
            "description": "one user only (members are always restricted to themselves)",
        },
        {
            "name": "organization_id",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "format": "uuid"},
            "description": "must be the caller's own organization",
        },
    ]


def _report_responses() -> dict[str, Any]:
    return {
        "200": {
            "description": "the report (JSON), or CSV with format=csv",
            "content": {"application/json": {"schema": _ref("Report")}, "text/csv": {"schema": {"type": "string"}}},
        },
        **{str(s): _json("OpenAIError", _WHY[s]) for s in (400, 401, 403)},
    }


# Statuses that handlers declared without ``responses=`` can answer beyond 400/401/503.
_EXTRA: dict[tuple[str, str], tuple[int, ...]] = {
    ("/v1/organizations/{organization_id}/policy", "get"): (403,),
    ("/v1/organizations/{organization_id}/policy", "patch"): (403,),
    ("/v1/budget", "get"): (403,),
}


def finish_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Add what litestar cannot see to the generated document (in place, once)."""
    if doc.get(_FINISHED):
        return doc
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(_components())
    paths = doc.setdefault("paths", {})
    paths["/v1/chat/completions"] = {
        "post": _proxy_operation(
            "ChatCompletionRequest",
            "ChatCompletion",
            "OpenAIError",
            "OpenAI Chat Completions, any catalog model (streamed or not)",
            (400, 401, 402, 403, 404, 413, 429, 502, 503, 504),
        )
    }
    paths["/v1/messages"] = {
        "post": _proxy_operation(
            "MessagesRequest",
            "Message",
            "AnthropicError",
            "Anthropic Messages, any catalog model (streamed or not)",
            (400, 401, 402, 403, 404, 413, 429, 502, 503, 504),
        )
    }
    for path in ("/v1/reports/costs", "/v1/reports/savings"):
        op = paths.get(path, {}).get("get")
        if op is not None:
            op["parameters"] = _report_parameters()
            op["responses"] = _report_responses()
    for method, name in (("get", "RouterConfig"), ("put", "RouterConfig")):
        op = paths.get("/v1/router/config", {}).get(method)
        if op is not None:
            op["responses"]["200"] = _json(name, "the configuration in force (header x-router-config-source)")
            if method == "put":
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(name)}}}
                op["responses"]["400"] = _json("OpenAIError", "the configuration is invalid; error.problems lists why")
                op["responses"]["403"] = _json("OpenAIError", _WHY[403])
    for path, item in paths.items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op or path in ("/v1/chat/completions", "/v1/messages"):
                continue
            responses = op["responses"]
            # Every error leaves through gateway.http.errors in the endpoint's shape (Anthropic's
            # under /v1/messages, else OpenAI's), never litestar's default one.
            shape = "AnthropicError" if path.startswith("/v1/messages") else "OpenAIError"
            if "400" in responses or op.get("parameters") or op.get("requestBody"):
                responses["400"] = _json(shape, _WHY[400])
            if path.startswith("/v1/"):
                responses.setdefault("401", _json(shape, _WHY[401]))
            for status in _EXTRA.get((path, method), ()):
                responses.setdefault(str(status), _json(shape, _WHY[status]))
            if path.startswith("/v1/") or path == "/readyz":
                responses.setdefault("503", _json(shape, _WHY[503]))
            for ok in ("200", "201"):
                # Handlers that encode their JSON themselves (Response[bytes]) are documented
                # by litestar as a string; the body is a JSON object.
                content = responses.get(ok, {}).get("content", {})
                media = content.get("application/json")
                if media is not None and media.get("schema") == {"type": "string"}:
                    media["schema"] = {"type": "object"}
    doc[_FINISHED] = True
    return doc


class FinishedJsonRender(JsonRenderPlugin):
    """``/schema/openapi.json``: the generated document, finished by :func:`finish_document`."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, finish_document(openapi_schema))


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """RapiDoc from the package's assets at ``/schema`` (no CDN), and the finished JSON."""
    return [
        RapidocRenderPlugin(js_url="/console/assets/vendor/rapidoc-min.js", path=["/", "/rapidoc"], favicon=""),
        FinishedJsonRender(),
    ]
