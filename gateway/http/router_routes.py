"""``/v1/router/config`` (read, and replace with a new version) and ``/v1/router/summary``.

Any member of an organization may read the configuration AUTO mode uses for them; only
owners and admins may change it, since it moves traffic (and cost) between model tiers.
A change is a new version, never an edit, so each logged decision still names the exact
configuration behind it; the store tells every process, so the next request uses it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec
from litestar import Request, Response, get, put
from litestar.handlers import HTTPRouteHandler

from gateway.errors import Forbidden, InvalidRequest
from gateway.pipeline.resolve import authenticate
from gateway.routing.summary import RouterSummary, router_summary
from gateway.services import Services
from router.config import RouterConfig

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(RouterConfig)
DEFAULT_PERIOD_DAYS = 30


def _services(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


def _config_response(config: RouterConfig, source: str) -> Response[bytes]:
    # The body is exactly a RouterConfig, so a client can edit what GET returned and PUT it back.
    return Response(_enc.encode(config), media_type="application/json", headers={"x-router-config-source": source})


def _invalid_config(problems: list[str]) -> Response[bytes]:
    body = {
        "error": {
            "message": "invalid router config: " + "; ".join(problems),
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_router_config",
            "problems": problems,
        }
    }
    return Response(_enc.encode(body), status_code=400, media_type="application/json")


@get("/v1/router/config", summary="The router configuration AUTO mode uses for the caller's organization")
async def get_router_config(request: Request[Any, Any, Any]) -> Response[bytes]:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    config, own = await services.router_store.load(principal.organization_id)
    source = "organization" if own else ("default" if config.version else "built-in")
    return _config_response(config, source)


@put("/v1/router/config", status_code=200, summary="Store a new router configuration version (owner/admin)")
async def put_router_config(request: Request[Any, Any, Any]) -> Response[bytes]:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    if not principal.is_admin:
        raise Forbidden(
            "only an organization owner or admin may change the router configuration", code="role_not_allowed"
        )
    body = await request.body()
    if not body.strip():
        raise InvalidRequest(
            "send the router configuration as JSON: simple_max, medium_max, weights (bias, confidence_band, "
            "max_query_chars, max_context_turns optional); GET /v1/router/config shows the current one",
            code="invalid_router_config",
        )
    try:
        config = _dec.decode(body)
    except msgspec.ValidationError as exc:
        return _invalid_config([str(exc)])
    except msgspec.DecodeError as exc:
        return _invalid_config([f"body is not valid JSON: {exc}"])
    # The version is the store's to assign; one echoed back from GET is ignored.
    problems = msgspec.structs.replace(config, version=0).problems()
    if problems:
        return _invalid_config(problems)
    saved = await services.router_store.save(principal.organization_id, config, principal.user_id)
    return _config_response(saved, "organization")


def _bound(value: str | None, param: str) -> datetime | None:
    """A ``from``/``to`` value: a date (``YYYY-MM-DD``, whole day) or an ISO 8601 timestamp."""
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time.min, UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"{param} must be a date (YYYY-MM-DD) or an ISO 8601 timestamp, got {value!r}", param=param
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def period(start_q: str | None, end_q: str | None, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` from the query: a date ``to`` includes that whole day; default the last 30 days."""
    end = _bound(end_q, "to")
    if end is not None and end_q is not None and len(end_q) == 10:
        end += timedelta(days=1)
    if end is None:
        end = datetime.combine(now.date() + timedelta(days=1), time.min, UTC)
    start = _bound(start_q, "from") or end - timedelta(days=DEFAULT_PERIOD_DAYS)
    if start >= end:
        raise InvalidRequest("'from' must be before 'to'", param="from")
    return start, end


@get("/v1/router/summary", summary="AUTO mode over a period: tier mix, score histogram, success, tokens, cost")
async def get_router_summary(request: Request[Any, Any, Any]) -> RouterSummary:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    start, end = period(request.query_params.get("from"), request.query_params.get("to"), datetime.now(UTC))
    catalog = services.catalog

    def complexity_of(model_id: str) -> str | None:
        entry = catalog.get(model_id)
        return entry.complexity if entry is not None else None

    return await router_summary(
        services.pool,
        complexity_of,
        organization_id=principal.organization_id,
        user_id=None if principal.sees_whole_org else principal.user_id,
        start=start,
        end=end,
    )


ROUTES: list[HTTPRouteHandler] = [get_router_config, put_router_config, get_router_summary]
