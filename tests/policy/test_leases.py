"""Budget leases against real PostgreSQL: several guards ("processes") share one counter row."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
import pytest

from gateway.accounts import BootstrapResult
from gateway.errors import BudgetExhausted
from gateway.policy.budget_guard import input_estimate_tokens
from gateway.policy.budget_state import month_of
from pricing import max_cost_millicents
from tests.policy.helpers import Conn, add_spend, budget, counter, open_lease_total
from tests.policy.lease_sim import Proc, context, principal

BUDGET = 50_000  # $0.50: fits about 160 worst cases of 304


async def _burst(
    db_url: str, tmp: Path, org: BootstrapResult, procs: int, n: int, cost_of: Callable[[int], int]
) -> list[int | None]:
    p = principal(org, BUDGET)
    runners = [Proc(db_url, tmp) for _ in range(procs)]
    for r in runners:
        await r.__aenter__()
    try:
        return list(await asyncio.gather(*(runners[i % procs].request(p, cost_of) for i in range(n))))
    finally:
        for r in runners:
            await r.__aexit__()


@pytest.mark.parametrize("procs", [2, 4])
@pytest.mark.parametrize("start_pct", [0, 50, 99])
def test_400_concurrent_requests_never_pass_the_budget(
    db_url: str, org: BootstrapResult, conn: Conn, tmp_path: Path, procs: int, start_pct: int
) -> None:
    budget(conn, org.organization_id, "0.50", hard=True)
    start = BUDGET * start_pct // 100
    if start:
        add_spend(conn, org.organization_id, org.user_id, start)
    results = asyncio.run(_burst(db_url, tmp_path, org, procs, 400, lambda x: x * 3 // 4))
    admitted = [x for x in results if x is not None]
    spent, reserved = counter(conn, org.organization_id)
    x = admitted[0] if admitted else 0
    print(f"{procs} procs from {start_pct}%: {len(admitted)} admitted (worst case {x}), spent {spent}")
    assert admitted, "nothing admitted"
    assert len(admitted) < 400  # the budget fits far fewer than 400 worst cases
    assert spent == start + sum(a * 3 // 4 for a in admitted)
    # Actual costs are below the estimates, so nothing may pass the budget, however many processes.
    assert spent <= BUDGET
    # And leases do not strand headroom: what is left is less than a few requests' worst case.
    assert BUDGET - spent < 3 * procs * x
    assert reserved == 0 and open_lease_total(conn, "org:" + org.organization_id) == 0  # all given back


def test_under_estimates_bound_the_overshoot(db_url: str, org: BootstrapResult, conn: Conn, tmp_path: Path) -> None:
    budget(conn, org.organization_id, "0.50", hard=True)
    results = asyncio.run(_burst(db_url, tmp_path, org, 4, 400, lambda x: x * 3 // 2))  # costs 1.5x the estimate
    admitted = [x for x in results if x is not None]
    spent, _ = counter(conn, org.organization_id)
    under = sum(a * 3 // 2 - a for a in admitted)
    assert spent > BUDGET  # the estimates were wrong, so some overshoot is expected ...
    assert spent - BUDGET <= under  # ... but never more than what they under-estimated


def test_far_from_the_limit_one_lease_serves_many_requests(
    db_url: str, org: BootstrapResult, conn: Conn, tmp_path: Path
) -> None:
    budget(conn, org.organization_id, "100.00", hard=True)

    async def run() -> int:
        async with Proc(db_url, tmp_path) as proc:
            p = principal(org, 10_000_000)
            for _ in range(20):
                assert await proc.request(p, lambda x: x // 2) is not None
            return open_lease_total(conn, "org:" + org.organization_id)

    held = asyncio.run(run())
    rows = conn.execute("SELECT count(*), max(holder) FROM gateway_budget_leases").fetchone()
    assert rows == (1, "process")  # one take for 20 requests
    assert 0 < held <= 1_000_000  # a tenth of the headroom, less the landed holds


def test_near_the_limit_each_request_takes_exactly_its_worst_case(
    db_url: str, org: BootstrapResult, conn: Conn, tmp_path: Path
) -> None:
    budget(conn, org.organization_id, "0.50", hard=True)

    async def run() -> tuple[int, int, int]:
        async with Proc(db_url, tmp_path) as proc:
            p = principal(org, BUDGET)
            ctx = context(p)
            x = proc.guard.worst_case(ctx)
            add_spend(conn, org.organization_id, org.user_id, BUDGET - 3 * x)  # room for three
            await proc.guard.admit(ctx)
            _, reserved = counter(conn, org.organization_id)
            admitted = 1
            codes: set[str] = set()
            for _ in range(5):
                try:
                    await proc.guard.admit(context(p))
                    admitted += 1
                except BudgetExhausted as exc:
                    codes.add(exc.code)
            assert codes == {"budget_exhausted"}
            return x, reserved, admitted

    x, reserved_after_first, admitted = asyncio.run(run())
    assert reserved_after_first == x  # 10% of 3x is less than x: the grant is exactly one worst case
    assert admitted == 3


def test_expired_lease_of_a_dead_process_is_reclaimed(
    db_url: str, org: BootstrapResult, conn: Conn, tmp_path: Path
) -> None:
    budget(conn, org.organization_id, "0.50", hard=True)

    async def run() -> None:
        dead = Proc(db_url, tmp_path)
        await dead.__aenter__()
        p = principal(org, BUDGET)
        await dead.guard.admit(context(p))  # takes a lease, then "dies" without giving it back
        await dead.pool.close()
        held = open_lease_total(conn, "org:" + org.organization_id)
        assert counter(conn, org.organization_id)[1] == held > 0
        conn.execute("UPDATE gateway_budget_leases SET expires_at = NOW() - interval '1 second'")
        async with Proc(db_url, tmp_path) as alive:
            await alive.guard.admit(context(p))
            reasons = conn.execute(
                "SELECT release_reason, count(*) FROM gateway_budget_leases GROUP BY 1 ORDER BY 1 NULLS LAST"
            ).fetchall()
            assert reasons == [("expired", 1), (None, 1)]
            assert counter(conn, org.organization_id)[1] == open_lease_total(conn, "org:" + org.organization_id)

    asyncio.run(run())


def test_key_budget_refuses_naming_the_key(db_url: str, org: BootstrapResult, conn: Conn, tmp_path: Path) -> None:
    async def run() -> tuple[int, str]:
        async with Proc(db_url, tmp_path) as proc:
            p = principal(org, None, key_budget=1_000)
            for admitted in range(100):
                ctx = context(p)
                try:
                    ticket = await proc.guard.admit(ctx)
                except BudgetExhausted as exc:
                    return admitted, exc.code + " | " + exc.message
                await proc.land(ctx, ticket, proc.guard.worst_case(ctx))
            return 100, ""

    admitted, refusal = asyncio.run(run())
    assert 0 < admitted < 100
    assert refusal.startswith("key_budget_exhausted | monthly budget exhausted: this API key"), refusal
    row = conn.execute("SELECT spent_millicents FROM gateway_budget_scope_counters WHERE scope LIKE 'key:%'").fetchone()
    assert row is not None and 0 < row[0] <= 1_000


def test_outage_fail_open_serves_from_the_lease_and_closed_refuses(
    db_url: str, org: BootstrapResult, conn: Conn, tmp_path: Path
) -> None:
    budget(conn, org.organization_id, "100.00", hard=True)

    async def run(mode: str) -> str:
        async with Proc(db_url, tmp_path, outage=mode) as proc:
            p = principal(org, 10_000_000)
            await proc.guard.admit(context(p))  # lease taken while the database is up
            proc.guard._db_ok = False  # what the renewal loop records when it cannot reach it
            try:
                await proc.guard.admit(context(p))
                return "admitted"
            except Exception as exc:  # noqa: BLE001 - the test reports whatever was raised
                return type(exc).__name__

    assert asyncio.run(run("lease")) == "admitted"
    assert asyncio.run(run("closed")) == "ServiceUnavailable"


def test_a_call_refused_after_admission_gives_its_hold_back_to_the_lease(
    db_url: str, org: BootstrapResult, conn: Conn, tmp_path: Path
) -> None:
    budget(conn, org.organization_id, "100.00", hard=True)

    async def run() -> tuple[int, int]:
        async with Proc(db_url, tmp_path) as proc:
            p = principal(org, 10_000_000)
            first = await proc.guard.admit(context(p))
            assert first is not None
            lease = next(iter(proc.guard._leases.values()))
            before = lease.free
            proc.guard.settle(first, 0)  # never recorded: e.g. a later admission step refused
            return before, lease.free

    before, after = asyncio.run(run())
    assert after > before  # the worst case came back to this process's lease


def test_a_lease_shrinks_when_the_headroom_shrinks(
    db_url: str, org: BootstrapResult, conn: Conn, tmp_path: Path
) -> None:
    budget(conn, org.organization_id, "100.00", hard=True)

    async def run() -> tuple[int, int, int, int]:
        async with Proc(db_url, tmp_path) as proc:
            p = principal(org, 10_000_000)
            await proc.guard.admit(context(p))  # a lease of a tenth of $100
            lease = next(iter(proc.guard._leases.values()))
            before = lease.free
            add_spend(conn, org.organization_id, org.user_id, 8_000_000)  # others spent most of it
            conn.execute(
                "UPDATE gateway_budget_counters SET spent_millicents = spent_millicents + 8000000 "
                "WHERE organization_id = %s",
                (org.organization_id,),
            )
            await proc.guard.maintain()
            held = open_lease_total(conn, "org:" + org.organization_id)
            return before, lease.free, counter(conn, org.organization_id)[1], held

    before, after, reserved, held = asyncio.run(run())
    assert before > 900_000
    assert after < before / 2  # about a tenth of the ~2M that is left now
    assert reserved == held  # what was given back left the counter too


def test_the_month_and_worst_case_shortcuts_follow_the_clock_and_the_prices(
    db_url: str, org: BootstrapResult, tmp_path: Path
) -> None:
    """Admission remembers the month and worst cases; a month boundary or another price recomputes."""
    proc = Proc(db_url, tmp_path)
    guard = proc.guard
    guard._month, guard._month_start, guard._month_end = date(2000, 1, 1), 0.0, 1.0  # a month long gone
    assert guard._current_month() == month_of(datetime.now(UTC))

    ctx = context(principal(org, BUDGET))
    price = proc.prices[ctx.model.id]
    assert price is not None
    want = max_cost_millicents(price, input_estimate_tokens(ctx), ctx.max_output_tokens)
    assert guard.worst_case(ctx) == guard.worst_case(ctx) == want
    proc.prices[ctx.model.id] = msgspec.structs.replace(price, output=price.output * 2)
    assert guard.worst_case(ctx) > want
