"""``gateway org show|set|budget``: the admin surface on the command line.

The same code as the HTTP admin routes (``gateway.policy.org_admin``): changes are made in
the name of an owner or admin of the organization (``--by EMAIL``), audited, and broadcast
to every running gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg

from gateway.accounts import AccountError, slugify
from gateway.catalog import Catalog
from gateway.config import load_config
from gateway.db.embedded import resolve_database_url
from gateway.errors import GatewayError
from gateway.policy.org_admin import PolicyPatch, apply_patch, budget_status, read_policy
from gateway.settings import Settings

_ORG_SQL = "SELECT id::text FROM organizations WHERE (slug = %s OR name = %s OR id::text = %s) AND deleted_at IS NULL"
_ADMIN_SQL = """
SELECT u.id::text FROM users u JOIN org_memberships m ON m.user_id = u.id AND m.organization_id = u.organization_id
WHERE u.organization_id = %s AND lower(u.email) = lower(%s) AND m.role IN ('owner', 'admin') AND u.deleted_at IS NULL
"""


def add_admin_commands(sub: Any) -> None:
    """Register ``gateway org ...`` on the top-level sub-parser."""
    p = sub.add_parser("org", help="show or change an organization's tiers, model tiers and budget")
    osub = p.add_subparsers(dest="org_cmd", required=True)
    show = osub.add_parser("show", help="print the organization's policy as JSON")
    show.add_argument("--org", required=True, help="name, slug or id")
    status = osub.add_parser("budget", help="month-to-date spend and projection as JSON")
    status.add_argument("--org", required=True)
    s = osub.add_parser("set", help="change the policy (as an owner or admin)")
    s.add_argument("--org", required=True)
    s.add_argument("--by", required=True, help="e-mail of an owner or admin of the organization")
    s.add_argument("--tiers", help="comma-separated allowed tiers: basic,standard,premium")
    s.add_argument("--budget-usd", help="monthly budget in USD, or 'none' to remove it")
    s.add_argument("--alert-pct", type=int)
    s.add_argument("--rpm", help="requests per minute (organization, or --user's), or 'none'")
    s.add_argument("--tpm", help="input+output tokens per minute, or 'none'")
    s.add_argument("--max-parallel", help="concurrent requests, or 'none'")
    s.add_argument("--user", help="user e-mail or id: --rpm/--tpm/--max-parallel/--budget-usd apply to this user")
    hard = s.add_mutually_exclusive_group()
    hard.add_argument("--hard-limit", dest="hard_limit", action="store_true", default=None)
    hard.add_argument("--no-hard-limit", dest="hard_limit", action="store_false")
    s.add_argument(
        "--model-tier",
        action="append",
        default=[],
        metavar="MODEL=TIER",
        help="TIER is basic|standard|premium, 'disabled', or 'inherit' (drop the override); repeatable",
    )
    p.set_defaults(func=cmd_org)


def cmd_org(args: argparse.Namespace, settings: Settings) -> int:
    url = resolve_database_url(settings)
    known = {m.id for m in Catalog.with_overrides(load_config(settings.config_path).models).models()}
    try:
        result = asyncio.run(_run(args, url, known))
    except GatewayError as exc:
        raise AccountError(exc.message) from None
    print(json.dumps(msgspec.to_builtins(result)))
    return 0


async def _run(args: argparse.Namespace, url: str, known: set[str]) -> Any:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (await conn.execute(_ORG_SQL, (slugify(args.org), args.org, args.org))).fetchone()
        if row is None:
            raise AccountError(f"no organization {args.org!r}")
        org_id = str(row[0])
        if args.org_cmd == "show":
            return await read_policy(conn, org_id)
        if args.org_cmd == "budget":
            return await budget_status(conn, org_id, datetime.now(UTC))
        actor = await (await conn.execute(_ADMIN_SQL, (org_id, args.by))).fetchone()
        if actor is None:
            raise AccountError(f"{args.by!r} is not an owner or admin of {args.org!r}")
        return await apply_patch(conn, org_id, str(actor[0]), await _patch(conn, org_id, args), known)


def _limit(value: str | None, name: str) -> int | None:
    if value is None or value.lower() == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise AccountError(f"{name} wants a whole number or 'none', got {value!r}") from None


async def _user_patch(conn: Any, org_id: str, args: argparse.Namespace) -> PolicyPatch:
    row = await (
        await conn.execute(
            "SELECT id::text FROM users WHERE organization_id = %s AND (lower(email) = lower(%s) OR id::text = %s)",
            (org_id, args.user, args.user),
        )
    ).fetchone()
    if row is None:
        raise AccountError(f"no user {args.user!r} in this organization")
    change: dict[str, Any] = {}
    for flag, field in (("rpm", "rpm_limit"), ("tpm", "tpm_limit"), ("max_parallel", "max_parallel")):
        if getattr(args, flag) is not None:
            change[field] = _limit(getattr(args, flag), "--" + flag.replace("_", "-"))
    if args.budget_usd is not None:
        change["monthly_budget_usd"] = None if args.budget_usd.lower() == "none" else args.budget_usd
    if not change:
        raise AccountError("nothing to change for the user: give --rpm, --tpm, --max-parallel or --budget-usd")
    return msgspec.convert({"user_limits": {str(row[0]): change}}, PolicyPatch)


async def _patch(conn: Any, org_id: str, args: argparse.Namespace) -> PolicyPatch:
    if args.user is not None:
        return await _user_patch(conn, org_id, args)
    fields: dict[str, Any] = {}
    for flag, field in (("rpm", "rpm_limit"), ("tpm", "tpm_limit"), ("max_parallel", "max_parallel")):
        if getattr(args, flag) is not None:
            fields[field] = _limit(getattr(args, flag), "--" + flag.replace("_", "-"))
    if args.tiers is not None:
        fields["allowed_tiers"] = [t.strip() for t in args.tiers.split(",") if t.strip()]
    if args.budget_usd is not None:
        fields["monthly_budget_usd"] = None if args.budget_usd.lower() == "none" else args.budget_usd
    if args.alert_pct is not None:
        fields["budget_alert_threshold"] = args.alert_pct
    if args.hard_limit is not None:
        fields["budget_hard_limit"] = args.hard_limit
    if args.model_tier:
        assignments = dict((await read_policy(conn, org_id)).model_tier_assignments)
        for item in args.model_tier:
            model, sep, tier = item.partition("=")
            if not sep or not model:
                raise AccountError(f"--model-tier wants MODEL=TIER, got {item!r}")
            if tier == "inherit":
                assignments.pop(model, None)
            else:
                assignments[model] = None if tier == "disabled" else tier
        fields["model_tier_assignments"] = assignments
    if not fields:
        raise AccountError(
            "nothing to change: give --tiers, --budget-usd, --alert-pct, --[no-]hard-limit, --model-tier, "
            "--rpm, --tpm or --max-parallel"
        )
    return msgspec.convert(fields, PolicyPatch)
