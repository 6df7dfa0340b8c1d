"""The ``gateway`` command: serve, migrate, bootstrap, keys, report, router."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import msgspec
import psycopg

from gateway import accounts
from gateway.db.embedded import resolve_database_url
from gateway.db.migrate import MigrationError, migrate
from gateway.model_tier import MODEL_TIERS
from gateway.observe.logs import configure_logging
from gateway.settings import Settings, SettingsError, export_database_url
from pricing.money import MoneyError, parse_usd, usd_to_millicents

log = logging.getLogger("gateway")

Handler = Callable[[argparse.Namespace, Settings], int]


def _db_url(settings: Settings) -> str:
    url = resolve_database_url(settings)
    export_database_url(url)
    return url


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    applied = migrate(_db_url(settings))
    print(json.dumps({"applied": applied}))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from gateway.http.protocol import guarded_protocol

    url = _db_url(settings)
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        if accounts.organization_count(conn) == 0:
            demo = accounts.bootstrap(conn, org="Demo", email="owner@demo.local", role="owner", tiers=list(MODEL_TIERS))
            print(
                "First start on an empty database: created organization 'Demo' with owner owner@demo.local.\n"
                f"API key (shown once): {demo.api_key}",
                flush=True,
            )
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    print(f"gateway serving on http://{host}:{port} ({workers} worker(s))", flush=True)
    # uvicorn re-raises the signal that stopped it once it has shut down; exiting through
    # SystemExit (instead of the default kill) lets exit handlers run, e.g. stopping the
    # embedded PostgreSQL this process started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    uvicorn.run(
        "gateway.http.asgi:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        # httptools with the header/body read limits (gateway.http.protocol).
        http=guarded_protocol(settings),
        access_log=False,
        # uvicorn's loggers propagate to the root handler configure_logging installed, so
        # its lines come out in the same format (JSON too) instead of uvicorn's own.
        log_config=None,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=settings.shutdown_drain_s,
    )
    return 0


def _money(value: str) -> Decimal:
    try:
        return parse_usd(value)
    except MoneyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_bootstrap(args: argparse.Namespace, settings: Settings) -> int:
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()] if args.tiers else None
    with psycopg.connect(_db_url(settings), autocommit=True) as conn:
        result = accounts.bootstrap(
            conn,
            org=args.org,
            email=args.email,
            role=args.role,
            tiers=tiers,
            budget_usd=args.budget_usd,
            alert_pct=args.alert_pct,
            hard_limit=True if args.hard_limit else None,
        )
    sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    return 0


def _org_id(conn: psycopg.Connection[Any], org: str | None) -> str | None:
    if org is None:
        return None
    row = conn.execute(
        "SELECT id::text FROM organizations WHERE (slug = %s OR name = %s OR id::text = %s) AND deleted_at IS NULL",
        (accounts.slugify(org), org, org),
    ).fetchone()
    if row is None:
        raise accounts.AccountError(f"no organization {org!r}")
    return str(row[0])


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    with psycopg.connect(_db_url(settings), autocommit=True) as conn:
        if args.keys_cmd == "create":
            org_id = _org_id(conn, args.org)
            row = conn.execute(
                "SELECT u.id::text, u.organization_id::text FROM users u WHERE lower(u.email) = lower(%s) "
                "AND u.deleted_at IS NULL AND (%s::uuid IS NULL OR u.organization_id = %s::uuid)",
                (args.email, org_id, org_id),
            ).fetchall()
            if len(row) != 1:
                raise accounts.AccountError(
                    f"{len(row)} users match {args.email!r}; name the organization with --org"
                    if row
                    else f"no user {args.email!r}"
                )
            user_id, org = row[0]
            with conn.transaction():
                key = accounts.create_key(
                    conn,
                    org_id=org,
                    user_id=user_id,
                    name=args.name,
                    expires_in_days=args.expires_days,
                    rpm_limit=args.rpm,
                    tpm_limit=args.tpm,
                    max_parallel=args.max_parallel,
                    budget_millicents=None if args.budget_usd is None else usd_to_millicents(args.budget_usd),
                )
            print(json.dumps({"organization_id": org, "user_id": user_id, "api_key": key}))
        elif args.keys_cmd == "list":
            for k in accounts.list_keys(conn, _org_id(conn, args.org)):
                print(json.dumps(k))
        else:
            key_id = accounts.revoke_key(conn, args.key)
            print(json.dumps({"revoked": key_id}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="LLM gateway and model router")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve HTTP (applies pending migrations first)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("migrate", help="apply pending migrations (safe from several replicas at once)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("bootstrap", help="create an organization and user if missing, and a new API key")
    p.add_argument("--org", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--role", choices=accounts.ROLES)
    p.add_argument("--tiers", help="comma-separated: basic,standard,premium")
    p.add_argument("--budget-usd", type=_money)
    p.add_argument("--alert-pct", type=int)
    p.add_argument("--hard-limit", action="store_true")
    p.set_defaults(func=cmd_bootstrap)

    p = sub.add_parser("keys", help="create, list or revoke API keys")
    ks = p.add_subparsers(dest="keys_cmd", required=True)
    kc = ks.add_parser("create")
    kc.add_argument("--email", required=True)
    kc.add_argument("--org")
    kc.add_argument("--name", default="default")
    kc.add_argument("--expires-days", type=int)
    kc.add_argument("--rpm", type=int, help="requests per minute for this key")
    kc.add_argument("--tpm", type=int, help="input+output tokens per minute for this key")
    kc.add_argument("--max-parallel", type=int, help="concurrent requests for this key")
    kc.add_argument("--budget-usd", type=_money, help="hard monthly budget of this key in USD")
    kl = ks.add_parser("list")
    kl.add_argument("--org")
    kr = ks.add_parser("revoke")
    kr.add_argument("key", help="key id or public prefix")
    p.set_defaults(func=cmd_keys)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> list[Callable[[Any], None]]:
    from gateway.cli.admin import add_admin_commands
    from gateway.cli.report import add_report_commands
    from gateway.cli.router import add_router_commands
    from gateway.cli.router_config import add_router_config_commands

    return [add_router_commands, add_router_config_commands, add_report_commands, add_admin_commands]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    args = build_parser().parse_args(argv)
    func: Any = args.func
    try:
        if args.command == "router":  # router tools take their own options (pure, no settings)
            return int(func(args))
        return int(func(args, settings))
    except (accounts.AccountError, MigrationError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        print(f"gateway: cannot reach the database: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
