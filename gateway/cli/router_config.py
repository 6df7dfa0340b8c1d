"""``gateway router-config show|set``: read or version the AUTO router configuration from a shell.

The same rows, audit event and cache notification as ``PUT /v1/router/config`` (the SQL
lives in :mod:`gateway.routing.store`), on a synchronous connection, so an operator can
move the tier cut points of a running fleet without an API token. ``--default`` works
on the configuration every organization without its own one uses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from gateway.accounts import AccountError, slugify
from gateway.db.embedded import resolve_database_url
from gateway.routing.store import (
    AUDIT_SQL,
    CLI_ACTOR,
    INSERT_SQL,
    NOTIFY_SQL,
    SELECT_SQL,
    audit_resource,
    config_body,
    config_from_row,
)
from gateway.settings import Settings
from router.config import RouterConfig

Conn = psycopg.Connection[tuple[Any, ...]]
_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(RouterConfig)
# The newest default version only (organization_id NULL), for ``--default``.
_SELECT_DEFAULT_SQL = """
SELECT version, config, FALSE FROM gateway_router_config WHERE organization_id IS NULL
ORDER BY version DESC LIMIT 1
"""


def _org_id(conn: Conn, org: str) -> str:
    row = conn.execute(
        "SELECT id::text FROM organizations WHERE (slug = %s OR name = %s OR id::text = %s) AND deleted_at IS NULL",
        (slugify(org), org, org),
    ).fetchone()
    if row is None:
        raise AccountError(f"no organization {org!r}")
    return str(row[0])


def current(conn: Conn, org_id: str | None) -> tuple[RouterConfig, str]:
    """The active configuration for ``org_id`` (None: the default) and where it comes from."""
    if org_id is None:
        row = conn.execute(_SELECT_DEFAULT_SQL).fetchone()
    else:
        row = conn.execute(SELECT_SQL, (org_id,)).fetchone()
    config, own = config_from_row(row)
    return config, "organization" if own else ("default" if config.version else "built-in")


def save(conn: Conn, org_id: str | None, config: RouterConfig) -> RouterConfig:
    """Validate and store ``config`` as a new version; audit it and notify every gateway process."""
    config.validate()
    with conn.transaction():
        row = conn.execute(INSERT_SQL, (org_id, config_body(config), None)).fetchone()
        assert row is not None
        conn.execute(AUDIT_SQL, (CLI_ACTOR, audit_resource(org_id)))
        conn.execute(NOTIFY_SQL)
    return msgspec.structs.replace(config, version=int(row[0]))


def _new_config(args: argparse.Namespace, base: RouterConfig) -> RouterConfig:
    if args.file is not None:
        if args.simple_max is not None or args.medium_max is not None:
            raise AccountError("give either --file or --simple-max/--medium-max, not both")
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        try:
            return _dec.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise AccountError(f"{args.file}: not a router configuration: {exc}") from None
    if args.simple_max is None and args.medium_max is None:
        raise AccountError("nothing to set: give --file F, or --simple-max N and/or --medium-max N")
    return msgspec.structs.replace(
        base,
        simple_max=base.simple_max if args.simple_max is None else args.simple_max,
        medium_max=base.medium_max if args.medium_max is None else args.medium_max,
    )


def cmd_router_config(args: argparse.Namespace, settings: Settings) -> int:
    url = resolve_database_url(settings)
    with psycopg.connect(url, autocommit=True) as conn:
        org_id = None if args.default else _org_id(conn, args.org)
        config, source = current(conn, org_id)
        if args.router_config_cmd == "set":
            try:
                config = save(conn, org_id, _new_config(args, config))
            except ValueError as exc:  # RouterConfig.validate: every broken rule, in one line
                raise AccountError(str(exc)) from None
            source = "organization" if org_id else "default"
    out = {"organization_id": org_id, "source": source, "config": msgspec.to_builtins(config)}
    sys.stdout.write(_enc.encode(out).decode() + "\n")
    return 0


def add_router_config_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``gateway router-config show|set`` on the top-level sub-command parser."""
    p = sub.add_parser("router-config", help="show or set the AUTO router configuration (versioned)")
    cmds = p.add_subparsers(dest="router_config_cmd", required=True)
    for name, help_text in (
        ("show", "print the active configuration as JSON"),
        ("set", "store a new version (from a JSON file, or new cut points over the current one)"),
    ):
        c = cmds.add_parser(name, help=help_text)
        who = c.add_mutually_exclusive_group(required=True)
        who.add_argument("--org", help="organization slug, name or id")
        who.add_argument("--default", action="store_true", help="the default for organizations without their own")
        if name == "set":
            c.add_argument("--file", help="a RouterConfig JSON file ('-' reads stdin)")
            c.add_argument("--simple-max", type=int, help="scores at or below this are 'simple'")
            c.add_argument("--medium-max", type=int, help="scores at or below this (and above simple) are 'medium'")
    p.set_defaults(func=cmd_router_config)
