"""Budget alerts: exactly once across processes, and SendGrid delivery with retries (respx)."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import respx
from psycopg_pool import AsyncConnectionPool

from gateway.accounts import BootstrapResult
from gateway.http.app import create_app
from gateway.metrics import Metrics
from gateway.policy.alerts import AlertMailer
from gateway.policy.budget_guard import MonthlyBudgetGuard, build_budget_guard
from gateway.policy.sendgrid import SendGridClient
from gateway.store.queue import WriteQueue
from gateway.store.writer import write_batch
from tests.policy.helpers import Conn, add_user, budget, usage_record
from tests.support.fixtures import gateway_settings
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer

SENDGRID = "https://sendgrid.test"


def _emails(conn: Conn, org_id: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT recipient_email, status, sendgrid_message_id, error_message, (metadata->>'attempts')::int "
        "FROM email_logs WHERE org_id = %s ORDER BY recipient_email",
        (org_id,),
    ).fetchall()


def test_concurrent_batches_in_several_processes_alert_exactly_once(
    db_url: str, conn: Conn, org: BootstrapResult, tmp_path: Path
) -> None:
    budget(conn, org.organization_id, "1.00", hard=False, alert_pct=80)
    add_user(conn, org.organization_id, "admin@acme.test", "admin")

    async def run() -> None:
        async with AsyncConnectionPool(db_url, min_size=8, max_size=8, kwargs={"autocommit": True}) as pool:
            queue = WriteQueue(pool, tmp_path, Metrics())
            # Eight guards stand for eight processes: each has its own in-process state.
            guards = [MonthlyBudgetGuard(pool, queue, {}, email_enabled=True) for _ in range(8)]

            async def batch(guard: MonthlyBudgetGuard) -> None:
                async with pool.connection() as c, c.transaction():
                    await write_batch(c, [usage_record(org, 11_000)], [guard.on_batch])

            await asyncio.gather(*(batch(g) for g in guards))  # 88% in one burst
            await asyncio.gather(*(batch(g) for g in guards))  # 176%

    asyncio.run(run())
    alerts = conn.execute("SELECT threshold_pct FROM gateway_budget_alerts ORDER BY 1").fetchall()
    assert alerts == [(80,), (100,)]
    emails = conn.execute(
        "SELECT recipient_email, metadata->>'threshold_pct', status FROM email_logs ORDER BY 2 DESC, 1"
    ).fetchall()
    assert emails == [
        ("admin@acme.test", "80", "pending"),
        ("owner@acme.test", "80", "pending"),
        ("admin@acme.test", "100", "pending"),
        ("owner@acme.test", "100", "pending"),
    ]


def _queue_alert(conn: Conn, org: BootstrapResult, to: str) -> None:
    conn.execute(
        "INSERT INTO email_logs (org_id, email_type, recipient_email, subject, status, metadata) "
        "VALUES (%s, 'budget_alert', %s, 'Budget alert', 'pending', '{\"attempts\": 0, \"body\": \"b\"}')",
        (org.organization_id, to),
    )


@respx.mock(assert_all_mocked=True)
def test_mailer_records_success_and_retries_failures(
    respx_mock: respx.MockRouter, db_url: str, conn: Conn, org: BootstrapResult
) -> None:
    _queue_alert(conn, org, "owner@acme.test")
    _queue_alert(conn, org, "flaky@acme.test")
    seen: list[dict[str, Any]] = []
    flaky_calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal flaky_calls
        body = json.loads(request.content)
        seen.append({"auth": request.headers["authorization"], "body": body})
        to = body["personalizations"][0]["to"][0]["email"]
        if to == "flaky@acme.test":
            flaky_calls += 1
            if flaky_calls == 1:
                return httpx.Response(500, json={"errors": [{"message": "internal hiccup"}]})
        return httpx.Response(202, headers={"X-Message-Id": f"msg-{to}"})

    respx_mock.post(f"{SENDGRID}/v3/mail/send").mock(side_effect=answer)

    async def run(rounds: int) -> list[int]:
        async with (
            AsyncConnectionPool(db_url, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool,
            httpx.AsyncClient() as http,
        ):
            client = SendGridClient(http, base_url=SENDGRID, api_key="SG.test", sender="gw@acme.test")
            mailer = AlertMailer(pool, client, backoff_s=0.2, max_attempts=3)
            sent = []
            for _ in range(rounds):
                sent.append(await mailer.send_due())
                await asyncio.sleep(0.25)
            return sent

    assert asyncio.run(run(1)) == [1]
    rows = _emails(conn, org.organization_id)
    assert rows[0][:2] == ("flaky@acme.test", "failed") and "internal hiccup" in rows[0][3] and rows[0][4] == 1
    assert rows[1] == ("owner@acme.test", "sent", "msg-owner@acme.test", None, 1)
    assert asyncio.run(run(2)) == [1, 0]  # retried once after the backoff, then nothing left
    assert _emails(conn, org.organization_id)[0] == ("flaky@acme.test", "sent", "msg-flaky@acme.test", None, 2)
    assert seen[0]["auth"] == "Bearer SG.test" and seen[0]["body"]["from"] == {"email": "gw@acme.test"}
    assert len(seen) == 3


@respx.mock(assert_all_mocked=True)
def test_mailer_gives_up_after_bounded_attempts(
    respx_mock: respx.MockRouter, db_url: str, conn: Conn, org: BootstrapResult
) -> None:
    _queue_alert(conn, org, "owner@acme.test")
    route = respx_mock.post(f"{SENDGRID}/v3/mail/send").mock(side_effect=httpx.ConnectError("no route"))

    async def run() -> None:
        async with (
            AsyncConnectionPool(db_url, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool,
            httpx.AsyncClient() as http,
        ):
            client = SendGridClient(http, base_url=SENDGRID, api_key="SG.test", sender="gw@acme.test")
            mailer = AlertMailer(pool, client, backoff_s=0.0, max_attempts=3)
            for _ in range(6):
                await mailer.send_due()

    asyncio.run(run())
    assert route.call_count == 3
    (row,) = _emails(conn, org.organization_id)
    assert row[1] == "failed" and "unreachable" in row[3] and row[4] == 3


def test_gateway_with_sendgrid_sends_the_alert_off_the_request_path(
    db_url: str, upstream: MockUpstream, org: BootstrapResult, conn: Conn, tmp_path: Path
) -> None:
    budget(conn, org.organization_id, "0.00", hard=False)  # a zero budget: the first request crosses 100%
    settings = gateway_settings(
        db_url, upstream, tmp_path, sendgrid_api_key="SG.key", sendgrid_base_url=SENDGRID, email_from="gw@x.test"
    )
    factory = functools.partial(build_budget_guard, mailer_options={"poll_s": 0.1, "backoff_s": 0.1})
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(f"{SENDGRID}/v3/mail/send").mock(
            return_value=httpx.Response(202, headers={"X-Message-Id": "sg-1"})
        )
        mock.route(host="127.0.0.1").pass_through()
        server = GatewayServer(create_app(settings, budget_factory=factory)).start()
        try:
            resp = httpx.post(
                server.url + "/v1/chat/completions",
                headers={"authorization": f"Bearer {org.api_key}"},
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert resp.status_code == 200
            server.flush()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not route.called:
                time.sleep(0.05)
            time.sleep(0.2)
        finally:
            server.stop()
    assert route.call_count == 1
    with psycopg.connect(db_url) as c:
        rows = c.execute("SELECT recipient_email, status, sendgrid_message_id FROM email_logs").fetchall()
    assert rows == [("owner@acme.test", "sent", "sg-1")]
