"""``GET /v1/reports/costs`` and ``GET /v1/reports/savings``: finance reports over HTTP.

Same credentials as the proxy (API key or JWT). The caller's role decides the scope
(:func:`gateway.reports.scope_for`); parameters are validated by the same code the CLI uses.
Errors are raised as ``GatewayError`` and rendered by the app's one exception handler.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from gateway.errors import InvalidRequest
from gateway.pipeline.resolve import authenticate
from gateway.reports import (
    ReportQuery,
    Scope,
    cost_report,
    counterfactuals,
    parse_query,
    savings_report,
    scope_for,
    to_csv,
    to_json,
)
from gateway.reports.format import Report
from gateway.services import Services


def _single_values(request: Request[Any, Any, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, values in request.query_params.dict().items():
        if len(values) != 1:
            raise InvalidRequest(f"parameter {name!r} is given {len(values)} times; give it once", param=name)
        out[name] = str(values[0])
    return out


async def _prepare(request: Request[Any, Any, Any]) -> tuple[Services, ReportQuery, Scope]:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    query = parse_query(_single_values(request))
    return services, query, scope_for(principal, query)


def _respond(report: Report, fmt: str) -> Response[bytes]:
    if fmt == "csv":
        name = f"{report.report}_{report.start}_{report.to}.csv"
        return Response(
            to_csv(report).encode(),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )
    return Response(to_json(report), media_type="application/json")


@get("/v1/reports/costs", summary="Cost report: requests, tokens and cost per group")
async def costs(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Cost per group over a date range (``from``/``to`` inclusive, days cut in ``tz``)."""
    services, query, scope = await _prepare(request)
    async with services.pool.connection() as conn:
        report = await cost_report(conn, scope, query)
    return _respond(report, query.fmt)


@get("/v1/reports/savings", summary="AUTO savings: AUTO requests against the complex-tier cost")
async def savings(request: Request[Any, Any, Any]) -> Response[bytes]:
    """What AUTO requests cost against what they would have cost at the complex tier."""
    services, query, scope = await _prepare(request)
    models = counterfactuals(services.catalog, services.prices)
    async with services.pool.connection() as conn:
        report = await savings_report(conn, scope, query, models)
    return _respond(report, query.fmt)


ROUTES: list[HTTPRouteHandler] = [costs, savings]
