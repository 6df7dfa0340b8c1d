"""Known llm_usage rows for report tests, and the expected sums computed from them in Python."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from gateway import accounts
from gateway.model_tier import MODEL_TIERS

MODELS = (
    ("claude-haiku-4-5", "anthropic", "basic"),
    ("claude-opus-4-5", "anthropic", "premium"),
    ("gpt-4o-mini", "openai", "basic"),
    ("gpt-5", "openai", "premium"),
)


@dataclass(frozen=True)
class Row:
    org: str
    user: str
    created_at: dt.datetime
    model: str
    provider: str | None
    tier: str | None
    request_type: str
    prompt: int
    completion: int
    cache_write: int
    cache_read: int
    cost: int
    auto: bool = False


_COLUMNS = (
    "organization_id, user_id, model, provider, tier, request_type, prompt_tokens, completion_tokens, total_tokens,"
    " cache_creation_tokens, cache_read_tokens, estimated_cost_millicents, created_at, auto_routed"
)


def insert(conn: psycopg.Connection[Any], rows: Sequence[Row], chunk: int = 1000) -> None:
    """Multi-row INSERT statements (as a bulk writer would send), ``chunk`` rows each."""
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(part))
        params: list[Any] = []
        for r in part:
            params += [
                r.org,
                r.user,
                r.model,
                r.provider,
                r.tier,
                r.request_type,
                r.prompt,
                r.completion,
                r.prompt + r.completion + r.cache_write + r.cache_read,
                r.cache_write,
                r.cache_read,
                r.cost,
                r.created_at,
                r.auto,
            ]
        conn.execute(f"INSERT INTO llm_usage ({_COLUMNS}) VALUES {values}", params)


def make_rows(orgs: dict[str, list[str]], n: int, start: dt.datetime, days: int, seed: int = 7) -> list[Row]:
    """``n`` random rows spread over ``days`` days from ``start``, across the given org users."""
    rnd = random.Random(seed)
    pairs = [(o, u) for o, users in orgs.items() for u in users]
    out: list[Row] = []
    for _ in range(n):
        org, user = rnd.choice(pairs)
        model, provider, tier = rnd.choice(MODELS)
        out.append(
            Row(
                org=org,
                user=user,
                created_at=start + dt.timedelta(seconds=rnd.randrange(days * 86400)),
                model=model,
                provider=provider if rnd.random() > 0.05 else None,
                tier=tier if rnd.random() > 0.05 else None,
                request_type=rnd.choice(("chat", "chat", "arena", "second-opinion")),
                prompt=rnd.randrange(0, 5000),
                completion=rnd.randrange(0, 2000),
                cache_write=rnd.randrange(0, 300),
                cache_read=rnd.randrange(0, 900),
                cost=rnd.randrange(0, 90000),
                auto=rnd.random() < 0.3,
            )
        )
    return out


def key_of(row: Row, key: str, tz: str) -> str | None:
    local = row.created_at.astimezone(ZoneInfo(tz))
    if key == "day":
        return local.date().isoformat()
    if key == "week":
        return (local.date() - dt.timedelta(days=local.weekday())).isoformat()
    if key == "month":
        return f"{local.year:04d}-{local.month:02d}"
    if key == "user":
        return row.user
    value: str | None = getattr(row, key)
    return value


def expected(
    rows: Sequence[Row],
    org: str,
    group_by: Sequence[str],
    first: dt.date,
    last: dt.date,
    tz: str = "UTC",
    user: str | None = None,
) -> dict[tuple[str | None, ...], tuple[int, ...]]:
    """Sums per group: (requests, input, output, cache write, cache read, cost)."""
    sums: dict[tuple[str | None, ...], list[int]] = defaultdict(lambda: [0] * 6)
    for r in rows:
        day = r.created_at.astimezone(ZoneInfo(tz)).date()
        if r.org != org or not first <= day <= last or (user is not None and r.user != user):
            continue
        acc = sums[tuple(key_of(r, k, tz) for k in group_by)]
        for i, v in enumerate((1, r.prompt, r.completion, r.cache_write, r.cache_read, r.cost)):
            acc[i] += v
    return {k: tuple(v) for k, v in sums.items()}


def observed(report: dict[str, Any]) -> dict[tuple[str | None, ...], tuple[int, ...]]:
    cols = [("user_id" if k == "user" else k) for k in report["group_by"]]
    metrics = (
        "requests",
        "input_tokens",
        "output_tokens",
        "cache_write_tokens",
        "cache_read_tokens",
        "cost_millicents",
    )
    return {tuple(r[c] for c in cols): tuple(r[m] for m in metrics) for r in report["rows"]}


@dataclass(frozen=True)
class People:
    """Two organizations: Acme (owner, finance, admin, two members) and Globex (owner, member)."""

    acme: str
    globex: str
    keys: dict[str, str]  # role name -> api key
    users: dict[str, str]  # role name -> user id


def people(conn: psycopg.Connection[Any]) -> People:
    keys: dict[str, str] = {}
    users: dict[str, str] = {}
    orgs: dict[str, str] = {}
    for name, org, email, role in (
        ("owner", "Acme", "owner@acme.test", "owner"),
        ("finance", "Acme", "fin@acme.test", "finance"),
        ("admin", "Acme", "admin@acme.test", "admin"),
        ("member", "Acme", "mem@acme.test", "member"),
        ("member2", "Acme", "mem2@acme.test", "member"),
        ("gowner", "Globex", "owner@globex.test", "owner"),
        ("gmember", "Globex", "mem@globex.test", "member"),
    ):
        b = accounts.bootstrap(conn, org=org, email=email, role=role, tiers=list(MODEL_TIERS))
        keys[name], users[name], orgs[org] = b.api_key, b.user_id, b.organization_id
    return People(orgs["Acme"], orgs["Globex"], keys, users)
