"""Running a report: who may see what, which source answers, and the rows it returns.

The organization a report covers comes from the caller's identity (or, on the CLI, from the
operator's ``--org``), never from a request parameter: an ``organization_id`` parameter is
accepted only when it names the caller's own organization. Members are held to their own
usage; owners, admins and finance see the whole organization and may narrow it to one user.
"""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
from psycopg import errors as pg_errors

from gateway.auth.principal import Principal
from gateway.errors import Forbidden, InvalidRequest
from gateway.reports.format import Report, metrics_from, totals_of
from gateway.reports.params import ReportQuery, hourly_buckets_fit
from gateway.reports.query import cost_sql, savings_sql
from gateway.reports.savings import Counterfactual, price_params


class Scope(msgspec.Struct, frozen=True):
    """The rows a report may read: one organization, optionally one user of it."""

    organization_id: str
    user_id: str | None = None


def scope_for(principal: Principal, query: ReportQuery) -> Scope:
    """The scope ``principal`` may read for ``query``.

    Raises:
        Forbidden: If ``organization_id`` names another organization, or a member asks for
            another user's usage.
    """
    if query.organization_id is not None and query.organization_id != principal.organization_id:
        raise Forbidden(
            "reports cover your own organization only; leave out organization_id", code="organization_forbidden"
        )
    if principal.sees_whole_org:
        return Scope(principal.organization_id, query.user_id)
    if query.user_id is not None and query.user_id != principal.user_id:
        raise Forbidden(
            "members see only their own usage; owners, admins and finance see the whole organization",
            code="report_forbidden",
        )
    return Scope(principal.organization_id, principal.user_id)


def _params(scope: Scope, query: ReportQuery) -> dict[str, Any]:
    return {
        "org": scope.organization_id,
        "user": scope.user_id,
        "start": query.start_utc,
        "end": query.end_utc,
        "tz": query.tz,
    }


async def _fetch(conn: psycopg.AsyncConnection[Any], sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    try:
        cur = await conn.execute(sql, params)  # built from fixed fragments only
    except (pg_errors.InvalidParameterValue, pg_errors.InvalidDatetimeFormat) as exc:
        # A zone Python knows but this server's tz database does not.
        raise InvalidRequest(f"the database does not know time zone {params['tz']!r}: {exc}", param="tz") from None
    return list(await cur.fetchall())


async def _rows(
    conn: psycopg.AsyncConnection[Any], raw: list[tuple[Any, ...]], query: ReportQuery, scope: Scope, kind: str
) -> list[dict[str, Any]]:
    n = len(query.group_by)
    emails: dict[str, str] = {}
    if "user" in query.group_by:
        i = query.group_by.index("user")
        ids = sorted({str(r[i]) for r in raw})
        cur = await conn.execute(
            "SELECT id::text, email FROM users WHERE organization_id = %s AND id = ANY(%s::uuid[])",
            (scope.organization_id, ids),
        )
        emails = {str(a): str(b) for a, b in await cur.fetchall()}
    out: list[dict[str, Any]] = []
    for r in raw:
        row: dict[str, Any] = {}
        for key, value in zip(query.group_by, r[:n], strict=True):
            if key == "user":
                row["user_id"] = value
                row["user_email"] = emails.get(str(value))
            else:
                row[key] = value
        row |= metrics_from(r[n:], kind)
        if row["requests"]:  # without group_by the SQL yields one all-zero row on no data
            out.append(row)
    return out


def _report(kind: str, scope: Scope, query: ReportQuery, source: str, rows: list[dict[str, Any]]) -> Report:
    return Report(
        report=kind,
        organization_id=scope.organization_id,
        start=query.start.isoformat(),
        to=query.end.isoformat(),
        tz=query.tz,
        group_by=list(query.group_by),
        source=source,
        rows=rows,
        totals=totals_of(rows, kind),
        user_id=scope.user_id,
    )


async def cost_report(conn: psycopg.AsyncConnection[Any], scope: Scope, query: ReportQuery) -> Report:
    """Cost per group over the query's range, summed from the rollup when it fits the zone."""
    rollup = hourly_buckets_fit(query)
    sql = cost_sql(query.group_by, rollup=rollup, by_user=scope.user_id is not None)
    raw = await _fetch(conn, sql, _params(scope, query))
    rows = await _rows(conn, raw, query, scope, "costs")
    return _report("costs", scope, query, "llm_usage_hourly" if rollup else "llm_usage", rows)


async def savings_report(
    conn: psycopg.AsyncConnection[Any], scope: Scope, query: ReportQuery, models: list[Counterfactual]
) -> Report:
    """AUTO requests only: actual cost against the complex-tier counterfactual, per group."""
    sql = savings_sql(query.group_by, by_user=scope.user_id is not None)
    raw = await _fetch(conn, sql, _params(scope, query) | price_params(models))
    rows = await _rows(conn, raw, query, scope, "savings")
    report = _report("savings", scope, query, "llm_usage", rows)
    report.counterfactual_models = {c.provider: c.model for c in models}
    return report
