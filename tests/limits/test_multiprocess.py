"""Limits that hold across real gateway processes: budgets, rate limits, a database outage."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from gateway.accounts import BootstrapResult
from tests.limits.gateways import burst, gateways
from tests.policy.helpers import Conn, add_spend, budget, counter, open_lease_total
from tests.support.mock_upstream import MockUpstream, Script, anthropic_message
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

USAGE_500_OUT = {
    "input_tokens": 10,
    "output_tokens": 500,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}
ACTUAL = 251  # 10 input at 0.1 + 500 output at 0.5 millicents (claude-haiku-4-5)
BUDGET = 10_000  # $0.10: about 33 worst cases of 304, or 39 actual costs


@pytest.mark.parametrize("procs", [2, 4])
@pytest.mark.parametrize("start_pct", [0, 50, 99])
def test_hard_budget_holds_across_processes_under_400_concurrent_requests(
    db_url: str, upstream: MockUpstream, org: BootstrapResult, conn: Conn, tmp_path: Path, procs: int, start_pct: int
) -> None:
    budget(conn, org.organization_id, "0.10", hard=True)
    start = BUDGET * start_pct // 100
    if start:
        add_spend(conn, org.organization_id, org.user_id, start)
    for _ in range(400):
        upstream.scripts.append(Script(body=anthropic_message("ok", "claude-haiku-4-5", USAGE_500_OUT), delay_s=0.2))
    with gateways(procs, db_url, upstream, tmp_path) as urls:
        statuses = Counter(asyncio.run(burst(urls, org.api_key, 400)))
    # The processes stopped gracefully: queues drained, leases given back.
    spent, reserved = counter(conn, org.organization_id)
    rows = conn.execute(
        "SELECT count(*), COALESCE(SUM(estimated_cost_millicents), 0) FROM llm_usage WHERE organization_id = %s "
        "AND provider IS NOT NULL",
        (org.organization_id,),
    ).fetchone()
    assert rows is not None
    print(f"{procs} processes from {start_pct}%: {dict(statuses)}, spent {spent} of {BUDGET}")
    assert set(statuses) <= {200, 402}, statuses
    assert rows[0] == statuses[200] and spent == start + int(rows[1])  # no usage row lost or doubled
    # Costs were below their worst-case estimates, so nothing passes the budget, however many processes.
    assert spent <= BUDGET
    assert reserved == 0 and open_lease_total(conn, "org:" + org.organization_id) == 0
    if start_pct < 99:
        # And leases do not strand the headroom: what is left is under a few worst cases.
        assert BUDGET - spent < (procs + 2) * 304, (spent, statuses)
    else:
        assert statuses[200] == 0  # 100 millicents left: no request's worst case fits


@pytest.mark.parametrize("procs", [2, 4])
def test_requests_per_minute_hold_across_processes_through_redis(
    db_url: str, upstream: MockUpstream, org: BootstrapResult, conn: Conn, tmp_path: Path, procs: int
) -> None:
    n = 200
    conn.execute("UPDATE gateway_api_keys SET rpm_limit = %s WHERE organization_id = %s", (n, org.organization_id))
    with gateways(procs, db_url, upstream, tmp_path, redis=True) as urls:
        while time.time() % 60 > 40:  # the burst stays inside one minute window
            time.sleep(0.5)
        statuses = Counter(asyncio.run(burst(urls, org.api_key, 300, max_tokens=20)))
    print(f"{procs} processes, {n}/min: {dict(statuses)}")
    assert set(statuses) <= {200, 429}, statuses
    assert abs(statuses[200] - n) <= n * 0.02, statuses


def test_a_20_s_database_outage_under_steady_load_serves_known_keys_and_loses_no_usage(
    db_url: str, upstream: MockUpstream, org: BootstrapResult, conn: Conn, tmp_path: Path
) -> None:
    """PostgreSQL goes away for 20 s behind a TCP proxy (the shared server itself keeps running)."""
    budget(conn, org.organization_id, "100.00", hard=True)  # far from the limit: a lease serves it
    info = conn.info
    proxy = TcpProxy(info.host, info.port).start()
    proxied = f"postgresql://{info.user}@127.0.0.1:{proxy.port}/{info.dbname}"
    served: Counter[int] = Counter()
    readiness: list[int] = []
    try:
        # A short TTL: entries go stale during the outage and are served stale (revalidation fails).
        with gateways(2, proxied, upstream, tmp_path, GATEWAY_CACHE_TTL_S="2") as urls:

            async def load(seconds: float, rate: float) -> None:
                async with httpx.AsyncClient(timeout=30) as client:

                    async def one(i: int) -> None:
                        try:
                            resp = await client.post(
                                urls[i % 2] + "/v1/messages",
                                headers={"x-api-key": org.api_key},
                                json={"model": "claude-haiku-4-5", "max_tokens": 50,
                                      "messages": [{"role": "user", "content": f"steady {i}"}]},
                            )  # fmt: skip
                            served[resp.status_code] += 1
                        except httpx.HTTPError:
                            served[0] += 1

                    tasks = []
                    end = time.monotonic() + seconds
                    i = 0
                    while time.monotonic() < end:
                        tasks.append(asyncio.create_task(one(i)))
                        i += 1
                        await asyncio.sleep(1 / rate)
                    await asyncio.gather(*tasks)

            async def ready(url: str) -> int:
                async with httpx.AsyncClient(timeout=10) as client:
                    return (await client.get(url + "/readyz")).status_code

            async def scenario() -> None:
                await load(3, 10)  # warm: principals cached, leases taken
                proxy.cut()
                outage = asyncio.create_task(load(20, 10))  # the outage
                await asyncio.sleep(5)
                readiness.append(await ready(urls[0]))  # the gateway itself sees the database gone
                await outage
                proxy.restore()
                await load(4, 10)  # back: spooled usage replays

            asyncio.run(scenario())
            time.sleep(3)  # a replay round (every 2 s) after the database is back
    finally:
        proxy.stop()
    total = sum(served.values())
    print(f"outage run: {dict(served)} of {total}; readyz during the outage: {readiness}")
    assert readiness == [503]
    assert served[200] >= 0.99 * total, served
    rows = conn.execute("SELECT count(*) FROM llm_usage WHERE organization_id = %s", (org.organization_id,)).fetchone()
    assert rows == (served[200],)  # every served request has its usage row: none lost
