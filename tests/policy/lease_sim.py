"""Driving ``LeaseBudgetGuard`` directly: several guards, each with its own pool, are the
"processes" sharing one PostgreSQL; requests are admitted, run, and their usage rows land
through the real write batch (with the guard's batch hook), as the write queue does."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from psycopg_pool import AsyncConnectionPool

from gateway.accounts import BootstrapResult
from gateway.auth.principal import Limits, OrgPolicy, Principal
from gateway.catalog import Catalog
from gateway.config import GatewayConfig
from gateway.errors import BudgetExhausted
from gateway.policy.lease_guard import LeaseBudgetGuard, LeaseTicket
from gateway.policy.request import PolicyRequest
from gateway.services import build_prices
from gateway.store.queue import WriteQueue
from gateway.store.records import UsageRecord
from gateway.store.writer import write_batch

MODEL = "claude-haiku-4-5"


def principal(org: BootstrapResult, budget: int | None, *, key_budget: int | None = None) -> Principal:
    policy = OrgPolicy(
        organization_id=org.organization_id,
        allowed_tiers=("basic", "standard", "premium"),
        model_tier_assignments={},
        system_prompt=None,
        monthly_budget_millicents=budget,
        budget_alert_threshold=80,
        budget_hard_limit=budget is not None,
    )
    return Principal(
        user_id=org.user_id,
        organization_id=org.organization_id,
        role="owner",
        email="owner@acme.test",
        org=policy,
        key_id=str(uuid.uuid4()) if key_budget is not None else None,
        key_limits=Limits(monthly_budget_millicents=key_budget),
    )


def context(p: Principal, max_tokens: int = 600) -> PolicyRequest:
    entry = Catalog.with_overrides([]).get(MODEL)
    assert entry is not None
    return PolicyRequest(
        request_id=str(uuid.uuid4()),
        created_at=datetime.now(UTC).isoformat(),
        principal=p,
        model=entry,
        prompt_chars=10,
        max_output_tokens=max_tokens,
    )


class Proc:
    """One simulated gateway process: its own pool and guard."""

    def __init__(self, db_url: str, tmp: Any, **options: Any) -> None:
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            db_url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}, timeout=10.0
        )
        catalog = Catalog.with_overrides([])
        self.prices = build_prices(catalog, GatewayConfig())
        queue = cast(WriteQueue, None)  # refusal audits are not under test here
        self.guard = LeaseBudgetGuard(self.pool, queue, self.prices, **options)
        self.guard._queue = _Audits()  # type: ignore[assignment]

    async def __aenter__(self) -> Proc:
        await self.pool.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.guard.close()
        await self.pool.close()

    async def land(self, ctx: PolicyRequest, ticket: LeaseTicket | None, cost: int) -> None:
        """The request's usage row lands in one batch transaction with the guard's hook."""
        if ticket is not None:
            ticket.mark_recorded()
        record = UsageRecord(
            request_id=ctx.request_id,
            organization_id=ctx.principal.organization_id,
            user_id=ctx.principal.user_id,
            model=MODEL,
            provider="anthropic",
            tier="basic",
            created_at=ctx.created_at,
            cost_millicents=cost,
            holds=ticket.budget_holds if ticket is not None else (),
        )
        async with self.pool.connection() as conn, conn.transaction():
            await write_batch(conn, [record], [self.guard.on_batch])

    async def request(self, p: Principal, cost_of: Any) -> int | None:
        """Admit, 'run' and settle one request; its worst case if admitted, None if refused."""
        ctx = context(p)
        try:
            ticket = await self.guard.admit(ctx)
        except BudgetExhausted:
            return None
        x = self.guard.worst_case(ctx)
        await asyncio.sleep(0.005)
        await self.land(ctx, ticket, cost_of(x))
        if ticket is not None:
            self.guard.settle(ticket, cost_of(x))
        return x


class _Audits:
    def __init__(self) -> None:
        self.records: list[Any] = []

    def put(self, record: Any) -> None:
        self.records.append(record)

    def flush_soon(self) -> None:
        """Nothing to hurry: a simulated process lands each call's row itself, at once."""
