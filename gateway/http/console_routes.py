"""The web console (``GET /console`` and its packaged assets) and the JSON it reads beyond the reports.

The console is static HTML and plain JavaScript shipped inside the package
(``gateway/console/``), with Chart.js vendored there, so it works offline. The page holds
no data: it signs in with the caller's API key or JWT and reads the gateway's JSON API,
which decides what each role may see; the views a role may open come from ``GET /v1/me``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import QueryParameter
from litestar.static_files import create_static_files_router

from gateway import console_data
from gateway.errors import Forbidden
from gateway.http.openapi_docs import error_responses
from gateway.http.router_routes import period
from gateway.pipeline.resolve import authenticate
from gateway.services import Services

ASSETS = Path(__file__).resolve().parent.parent / "console"

From = Annotated[
    str | None, QueryParameter(name="from", description="first day (YYYY-MM-DD) or instant; default 30 days ago")
]
To = Annotated[
    str | None, QueryParameter(name="to", description="last day included (YYYY-MM-DD) or instant; default today")
]


def _services(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


@get("/console", include_in_schema=False, media_type="text/html")
async def console_page() -> Response[bytes]:
    # Read per request: a few KB from the page cache, and edits show without a restart in development.
    html = (ASSETS / "index.html").read_bytes()
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'"},
    )


@get(
    "/v1/me",
    summary="The caller: user, organization, role and the console views it may open",
    responses=error_responses(401),
)
async def get_me(request: Request[Any, Any, Any]) -> console_data.Me:
    principal = await authenticate(_services(request), request.headers)
    return console_data.me(principal)


@get(
    "/v1/router/decisions",
    summary="Logged AUTO decisions, newest first, with filters (members see their own)",
    responses=error_responses(400, 401),
)
async def get_decisions(
    request: Request[Any, Any, Any],
    tier: Annotated[str | None, QueryParameter(description="complexity tier: simple, medium or complex")] = None,
    model: Annotated[str | None, QueryParameter(description="selected model id")] = None,
    success: Annotated[bool | None, QueryParameter(description="whether the request succeeded")] = None,
    score_min: Annotated[int, QueryParameter(ge=0, le=100, description="lowest score included")] = 0,
    score_max: Annotated[int, QueryParameter(ge=0, le=100, description="highest score included")] = 100,
    limit: Annotated[int, QueryParameter(ge=1, le=console_data.MAX_DECISIONS, description="rows at most")] = 100,
) -> console_data.DecisionList:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    async with services.pool.connection() as conn:
        return await console_data.decisions(
            conn,
            principal,
            tier=tier,
            model=model,
            success=success,
            score_min=score_min,
            score_max=score_max,
            limit=limit,
        )


@get(
    "/v1/router/config/versions",
    summary="Router configuration versions (the organization's and the defaults), newest first",
    responses=error_responses(401),
)
async def get_config_versions(request: Request[Any, Any, Any]) -> console_data.ConfigVersionList:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    async with services.pool.connection() as conn:
        return await console_data.config_versions(conn, principal)


@get("/v1/router/tier-mix", summary="AUTO decisions per UTC day and tier", responses=error_responses(400, 401))
async def get_tier_mix(request: Request[Any, Any, Any], start: From = None, end: To = None) -> console_data.TierMix:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    lo, hi = period(start, end, datetime.now(UTC))
    async with services.pool.connection() as conn:
        return await console_data.tier_mix(conn, principal, lo, hi)


@get(
    "/v1/router/what-if",
    summary="Replay the period's logged scores against other tier thresholds (owners and admins)",
    responses=error_responses(400, 401, 403),
)
async def get_what_if(
    request: Request[Any, Any, Any],
    simple_max: Annotated[int, QueryParameter(ge=0, le=100, description="new simple/medium cut point")],
    medium_max: Annotated[int, QueryParameter(ge=0, le=100, description="new medium/complex cut point")],
    start: From = None,
    end: To = None,
) -> console_data.WhatIf:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    if not principal.is_admin:
        raise Forbidden("only owners and admins may replay router thresholds", code="admin_required")
    lo, hi = period(start, end, datetime.now(UTC))
    async with services.pool.connection() as conn:
        return await console_data.what_if(conn, principal, simple_max, medium_max, lo, hi)


ROUTES: list[Any] = [
    console_page,
    get_me,
    get_decisions,
    get_config_versions,
    get_tier_mix,
    get_what_if,
    create_static_files_router(path="/console/assets", directories=[ASSETS], include_in_schema=False),
]
