"""``gateway report costs|savings``: the HTTP finance reports from the command line.

The operator has database access, so the CLI names the organization with ``--org`` (slug,
name or id; optional when there is exactly one) and may narrow to one user with ``--user``
(e-mail or id). Parameters go through the same validation as the HTTP report, and the
figures come from the same code, so the table, CSV and JSON here equal the HTTP answers.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import psycopg

from gateway.accounts import slugify
from gateway.catalog import Catalog
from gateway.config import load_config
from gateway.db.embedded import resolve_database_url
from gateway.errors import GatewayError
from gateway.reports import (
    GROUP_KEYS,
    Report,
    Scope,
    cost_report,
    counterfactuals,
    parse_query,
    savings_report,
    to_csv,
    to_json,
    to_table,
)
from gateway.settings import Settings


def add_report_commands(sub: Any) -> None:
    """Register ``gateway report costs`` and ``gateway report savings`` on ``sub``."""
    p = sub.add_parser("report", help="finance reports: costs per group, AUTO savings")
    rs = p.add_subparsers(dest="report_cmd", required=True)
    for name, help_text in (
        ("costs", "requests, tokens and cost per group over a date range"),
        ("savings", "AUTO requests: actual cost against the complex-tier model's cost"),
    ):
        r = rs.add_parser(name, help=help_text)
        r.add_argument("--from", dest="start", help="first day, YYYY-MM-DD (default: first of this month)")
        r.add_argument("--to", dest="end", help="last day included, YYYY-MM-DD (default: today)")
        r.add_argument("--group-by", default="", help=f"comma-separated: {','.join(GROUP_KEYS)}")
        r.add_argument("--tz", default="UTC", help="IANA time zone for day boundaries (default UTC)")
        r.add_argument("--format", choices=("table", "csv", "json"), default="table")
        r.add_argument("--org", help="organization slug, name or id (optional when there is only one)")
        r.add_argument("--user", help="only this user (e-mail or id)")
    p.set_defaults(func=cmd_report)


def _resolve_scope(conn: psycopg.Connection[Any], org: str | None, user: str | None) -> Scope:
    rows = conn.execute(
        "SELECT id::text FROM organizations WHERE deleted_at IS NULL AND (%s::text IS NULL "
        "OR slug = %s OR name = %s OR id::text = %s) ORDER BY created_at",
        (org, slugify(org) if org else None, org, org),
    ).fetchall()
    if len(rows) != 1:
        what = f"organization {org!r}" if org else "an organization"
        raise GatewayError(
            f"no {what}" if not rows else f"{len(rows)} organizations match; name one with --org (slug, name or id)"
        )
    org_id = str(rows[0][0])
    if user is None:
        return Scope(org_id)
    urow = conn.execute(
        "SELECT id::text FROM users WHERE organization_id = %s AND (lower(email) = lower(%s) OR id::text = %s)",
        (org_id, user, user),
    ).fetchone()
    if urow is None:
        raise GatewayError(f"no user {user!r} in that organization")
    return Scope(org_id, str(urow[0]))


async def _run(url: str, kind: str, scope: Scope, params: dict[str, str], settings: Settings) -> Report:
    query = parse_query(params)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        if kind == "costs":
            return await cost_report(conn, scope, query)
        config = load_config(settings.config_path)
        from gateway.services import build_prices  # deferred: pulls in the provider stack

        catalog = Catalog.with_overrides(config.models)
        return await savings_report(conn, scope, query, counterfactuals(catalog, build_prices(catalog, config)))


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """Print the report; exit 2 on bad parameters, 1 when the organization or user is unknown."""
    params = {"from": args.start or "", "to": args.end or "", "group_by": args.group_by, "tz": args.tz}
    url = resolve_database_url(settings)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            scope = _resolve_scope(conn, args.org, args.user)
        report = asyncio.run(_run(url, args.report_cmd, scope, params, settings))
    except GatewayError as exc:
        print(f"gateway report: {exc.message}", file=sys.stderr)
        return 2 if exc.status == 400 else 1
    if args.format == "json":
        sys.stdout.write(to_json(report).decode() + "\n")
    elif args.format == "csv":
        sys.stdout.write(to_csv(report))
    else:
        sys.stdout.write(to_table(report))
    return 0
