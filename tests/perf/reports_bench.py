"""Scale benchmark for the finance reports: N llm_usage rows across many organizations.

Run: ``.venv/bin/python -m tests.perf.reports_bench [--rows 10000000] [--orgs 100]``.

It creates a dedicated database (``DATABASE_URL``'s server, else the embedded PostgreSQL in
``.gateway/bench/pgdata``), applies the migrations, and writes the rows with
``INSERT ... SELECT generate_series`` in chunks, in time order, through the real triggers (so
the build time includes maintaining the hourly rollup, as production writes would). Org sizes
follow a Zipf law (the largest org holds about a fifth of all rows), so "a month's report" is
measured for large, middle and small organizations. It then times the cost report (the same
``gateway.reports`` code the HTTP endpoint runs) for one month grouped by day and model, and
prints p50/p99 in ms per org class, plus the llm_usage fallback for comparison. The database
is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg

from gateway.db.migrate import migrate
from gateway.reports import Scope, cost_report, parse_query
from tests.perf.gateway_target import BenchDatabase

MODELS = (
    ("claude-haiku-4-5", "anthropic", "basic", 100_000, 500_000),
    ("claude-sonnet-4-5", "anthropic", "standard", 300_000, 1_500_000),
    ("claude-opus-4-5", "anthropic", "premium", 500_000, 2_500_000),
    ("gpt-4o-mini", "openai", "basic", 15_000, 60_000),
    ("gpt-4.1", "openai", "standard", 200_000, 800_000),
    ("gpt-5", "openai", "premium", 125_000, 1_000_000),
    ("claude-sonnet-4-20250514", "anthropic", "standard", 300_000, 1_500_000),
)
DAYS = 365
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

_SETUP = """
CREATE TEMP TABLE bench_models (idx int, model text, provider text, tier text, pin bigint, pout bigint);
CREATE TEMP TABLE bench_slots (slot int PRIMARY KEY, org_id uuid, n_users int);
CREATE TEMP TABLE bench_users (org_id uuid, idx int, user_id uuid, PRIMARY KEY (org_id, idx));
"""

# h: a cheap integer hash of g; its digits pick the org slot, user, model and token counts.
_INSERT = """
INSERT INTO llm_usage (organization_id, user_id, model, provider, tier, request_type, prompt_tokens,
    completion_tokens, total_tokens, cache_creation_tokens, cache_read_tokens, estimated_cost_millicents,
    created_at, status, auto_routed)
SELECT s.org_id, u.user_id, m.model, m.provider, m.tier,
       CASE WHEN x.h %% 10 = 0 THEN 'arena' ELSE 'chat' END,
       x.p, x.c, x.p + x.c + x.cw + x.cr, x.cw, x.cr, (x.p * m.pin + x.c * m.pout + 500000) / 1000000,
       %(t0)s::timestamptz + (g * %(step)s) * interval '1 microsecond',
       CASE WHEN x.h %% 50 = 0 THEN 'error' ELSE 'success' END, x.h %% 3 = 0
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g
CROSS JOIN LATERAL (
    SELECT h, 50 + (h / 7) %% 4000 AS p, 10 + (h / 11) %% 1500 AS c,
           (h / 13) %% 200 AS cw, (h / 17) %% 800 AS cr
    FROM (SELECT (g * 2654435761) %% 2147483647 AS h) AS hh
) AS x
JOIN bench_slots s ON s.slot = (x.h %% 1000)::int
JOIN bench_users u ON u.org_id = s.org_id AND u.idx = ((x.h / 1000) %% s.n_users)::int
JOIN bench_models m ON m.idx = ((x.h / 100003) %% 7)::int
"""


def build(url: str, rows: int, orgs: int, chunk: int) -> tuple[float, list[tuple[str, int]]]:
    """Create orgs, users and ``rows`` usage rows; return (seconds, [(org_id, rows)] largest first)."""
    weights = [1 / (k + 1) for k in range(orgs)]
    total_w = sum(weights)
    slots = [max(1, round(1000 * w / total_w)) for w in weights]
    while sum(slots) > 1000:
        slots[slots.index(max(slots))] -= 1
    while sum(slots) < 1000:
        slots[0] += 1
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_SETUP)
        conn.cursor().executemany("INSERT INTO bench_models VALUES (%s, %s, %s, %s, %s, %s)", list(enumerate_models()))
        org_ids: list[tuple[str, int]] = []
        slot = 0
        for k in range(orgs):
            row = conn.execute(
                "INSERT INTO organizations (name, slug) VALUES (%s, %s) RETURNING id::text", (f"Org {k}", f"org-{k}")
            ).fetchone()
            assert row is not None
            org_id = str(row[0])
            n_rows = rows * slots[k] // 1000
            n_users = max(3, n_rows // 15_000)  # ~40 requests per user per day
            conn.execute(
                "INSERT INTO users (organization_id, email, username) SELECT %s, 'u' || i || '@org' || %s || '.test',"
                " 'u' || i FROM generate_series(0, %s - 1) i",
                (org_id, k, n_users),
            )
            conn.execute(
                "INSERT INTO bench_users SELECT organization_id, (row_number() OVER (ORDER BY username) - 1)::int, id"
                " FROM users WHERE organization_id = %s",
                (org_id,),
            )
            conn.cursor().executemany(
                "INSERT INTO bench_slots VALUES (%s, %s, %s)", [(slot + i, org_id, n_users) for i in range(slots[k])]
            )
            slot += slots[k]
            org_ids.append((org_id, n_rows))
        step = DAYS * 86_400 * 1_000_000 // rows
        started = time.perf_counter()
        for lo in range(0, rows, chunk):
            hi = min(rows, lo + chunk) - 1
            conn.execute(_INSERT, {"t0": T0, "step": step, "lo": lo, "hi": hi})
            done = hi + 1
            rate = done / (time.perf_counter() - started)
            print(f"\r  {done:,}/{rows:,} rows ({rate:,.0f} rows/s)", end="", flush=True)
        print()
        elapsed = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE llm_usage")
        conn.execute("VACUUM ANALYZE llm_usage_hourly")
    return elapsed, org_ids


def enumerate_models() -> list[tuple[Any, ...]]:
    return [(i, *m) for i, m in enumerate(MODELS)]


async def time_reports(url: str, org_ids: list[str], tz: str, runs: int) -> list[float]:
    """Wall ms of the month's report grouped by day and model (June 2025), ``runs`` per org."""
    query = parse_query({"from": "2025-06-01", "to": "2025-06-30", "group_by": "day,model", "tz": tz})
    out: list[float] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for org in org_ids:
            await cost_report(conn, Scope(org), query)  # warm the plan and the cache
            for _ in range(runs):
                t = time.perf_counter()
                report = await cost_report(conn, Scope(org), query)
                out.append((time.perf_counter() - t) * 1000)
            assert report.rows
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--orgs", type=int, default=100)
    ap.add_argument("--chunk", type=int, default=500_000)
    ap.add_argument("--runs", type=int, default=30, help="timed reports per organization")
    ap.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    args = ap.parse_args(argv)
    db = BenchDatabase(Path(".gateway/bench/pgdata"))
    try:
        migrate(db.url)
        print(f"reports bench: {args.rows:,} llm_usage rows, {args.orgs} organizations, {DAYS} days")
        seconds, orgs = build(db.url, args.rows, args.orgs, args.chunk)
        with psycopg.connect(db.url) as conn:
            rollup = conn.execute("SELECT count(*) FROM llm_usage_hourly").fetchone()
            size = conn.execute(
                "SELECT pg_size_pretty(pg_total_relation_size('llm_usage')),"
                " pg_size_pretty(pg_total_relation_size('llm_usage_hourly'))"
            ).fetchone()
        assert rollup is not None and size is not None
        print(
            f"build: {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s, triggers included); "
            f"llm_usage {size[0]}, rollup {rollup[0]:,} rows, {size[1]}"
        )
        classes = {"largest 3": orgs[:3], "middle 3": orgs[48:51], "smallest 3": orgs[-3:]}
        print("month report (June 2025), group_by=day,model; wall ms per report, p50 / p99:")
        everything: list[float] = []
        for label, members in classes.items():
            ms = asyncio.run(time_reports(db.url, [o for o, _ in members], "UTC", args.runs))
            everything += ms
            per_month = sum(n for _, n in members) // len(members) * 30 // DAYS
            print(
                f"  {label:<11} (~{per_month:,} rows/month each): p50 {statistics.median(ms):7.1f}  "
                f"p99 {pct(ms, 0.99):7.1f}"
            )
        print(f"  all         : p50 {statistics.median(everything):7.1f}  p99 {pct(everything, 0.99):7.1f}")
        raw = asyncio.run(time_reports(db.url, [o for o, _ in orgs[:3]], "Asia/Kolkata", max(3, args.runs // 5)))
        print(
            f"  llm_usage fallback (tz Asia/Kolkata), largest 3: p50 {statistics.median(raw):7.1f}  "
            f"p99 {pct(raw, 0.99):7.1f}"
        )
        if args.keep:
            print(f"kept: {db.url}")
    finally:
        if not args.keep:
            db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
