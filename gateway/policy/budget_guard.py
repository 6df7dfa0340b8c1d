"""The monthly budget guard: cheap far from the limit, strict near it.

Far from the limit the in-process view decides, with no database round trip: the last
counter snapshot (refreshed in the background about once a second), plus what this
process settled since, plus the worst case of its own requests in flight, plus this
request's worst case, must stay under ``far_fraction`` of the budget. Otherwise the request
takes a strict reservation in PostgreSQL (``budget_state.reserve``: one conditional UPDATE
on the counter row), which holds across processes sharing the database; the reservation
is released in the same transaction that inserts the request's llm_usage row.

Only organizations with a hard limit are admitted this way; without one the guard admits
everything and the spend still moves through the batch hook, which fires alerts.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from gateway.errors import BudgetExhausted
from gateway.policy.alerts import AlertMailer, record_crossings
from gateway.policy.budget import BudgetGuard, BudgetTicket
from gateway.policy.budget_state import Counter, apply_usage_batch, month_of, next_month, read_counter, reserve
from gateway.policy.request import PolicyRequest
from gateway.policy.sendgrid import SendGridClient
from gateway.settings import Settings
from gateway.store.queue import WriteQueue
from gateway.store.records import AuditRecord, UsageRecord
from pricing import ModelPrice, max_cost_millicents
from pricing.money import format_usd

_Key = tuple[str, date]


@dataclass(slots=True)
class _OrgMonth:
    """This process's view of one organization's month."""

    counter: Counter | None = None
    fetched_at: float = 0.0
    settled_total: int = 0  # cost settled here since the view was created (only grows)
    settled_at_fetch: int = 0  # settled_total when the snapshot's query started
    inflight: int = 0  # worst case of far-path requests still running here
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    refreshing: asyncio.Task[None] | None = None


@dataclass(slots=True, frozen=True)
class _Ticket:
    key: _Key
    held: int  # local in-flight amount to give back at settlement
    reserved_millicents: int = 0  # the strict reservation, released when the usage row lands


def input_estimate_tokens(req: PolicyRequest) -> int:
    """A deliberately high token estimate of the prompt (about 3 characters a token, plus slack)."""
    chars = req.prompt_chars + len(req.principal.org.system_prompt or "")
    chars += sum(len(g.system_prompt or "") for g in req.principal.groups)
    return chars // 3 + 16


class MonthlyBudgetGuard:
    """Admits, reserves and settles requests against the organization's monthly budget."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        queue: WriteQueue,
        prices: dict[str, ModelPrice | None],
        *,
        email_enabled: bool = False,
        mailer: AlertMailer | None = None,
        refresh_s: float = 1.0,
        max_stale_s: float = 5.0,
        far_fraction: float = 0.9,
        reservation_ttl_s: float = 720.0,
    ) -> None:
        self._pool = pool
        self._queue = queue
        self._prices = prices
        self._email_enabled = email_enabled
        self._mailer = mailer
        self._refresh_s = refresh_s
        self._max_stale_s = max_stale_s
        self._far_fraction = far_fraction
        self._ttl = reservation_ttl_s
        self._views: dict[_Key, _OrgMonth] = {}
        self._alerted: set[tuple[str, date, int]] = set()

    # --- request path ---------------------------------------------------------------------
    def worst_case(self, req: PolicyRequest) -> int:
        price = self._prices.get(req.model.id)
        if price is None:
            return 0
        return max_cost_millicents(price, input_estimate_tokens(req), max(0, req.max_output_tokens))

    async def admit(self, req: PolicyRequest) -> BudgetTicket | None:
        policy = req.principal.org
        budget = policy.monthly_budget_millicents
        if budget is None or not policy.budget_hard_limit:
            return None
        key = (req.principal.organization_id, month_of(datetime.now(UTC)))
        view = self._view(key)
        x = self.worst_case(req)
        counter = await self._fresh(view, key)
        projected = (
            counter.spent_millicents
            + counter.reserved_millicents
            + (view.settled_total - view.settled_at_fetch)
            + view.inflight
            + x
        )
        if projected <= budget * self._far_fraction:
            view.inflight += x
            return _Ticket(key, x)
        async with self._pool.connection() as conn, conn.transaction():
            result = await reserve(
                conn,
                organization_id=key[0],
                month=key[1],
                request_id=req.request_id,
                amount_millicents=x,
                budget_millicents=budget,
                ttl_s=self._ttl,
            )
        view.counter = result.counter
        if not result.granted:
            self._refuse(req, key[1], budget, result.counter, x)
        return _Ticket(key, 0, x)

    def settle(self, ticket: BudgetTicket, cost_millicents: int) -> None:
        if not isinstance(ticket, _Ticket):
            return
        view = self._views.get(ticket.key)
        if view is not None:
            view.inflight -= ticket.held
            view.settled_total += cost_millicents

    def inflight_millicents(self, organization_id: str) -> int:
        """This process's worst case of the organization's far-path calls still running (this month)."""
        view = self._views.get((organization_id, month_of(datetime.now(UTC))))
        return view.inflight if view is not None else 0

    def _refuse(self, req: PolicyRequest, month: date, budget: int, counter: Counter, x: int) -> None:
        spent, reserved = counter.spent_millicents, counter.reserved_millicents
        held = f" ({format_usd(reserved)} more is held by requests in flight)" if reserved else ""
        message = (
            f"monthly budget exhausted: your organization has spent {format_usd(spent)} of its {format_usd(budget)} "
            f"budget this month{held}, and this request could cost up to {format_usd(x)}. The budget resets on "
            f"{next_month(month).isoformat()} 00:00 UTC; an organization owner or admin can raise it."
        )
        self._queue.put(
            AuditRecord(
                id=str(uuid.uuid4()),
                user_id=req.principal.user_id,
                event_type="request.refused",
                resource_type="model",
                resource_id=req.model.id,
                action="budget_exhausted",
                organization_id=req.principal.organization_id,
                metadata={
                    "request_id": req.request_id,
                    "spent_millicents": spent,
                    "reserved_millicents": reserved,
                    "budget_millicents": budget,
                    "request_worst_case_millicents": x,
                    "resets_on": next_month(month).isoformat(),
                },
                created_at=req.created_at,
            )
        )
        raise BudgetExhausted(message, code="budget_exhausted")

    # --- the in-process view ----------------------------------------------------------------
    def _view(self, key: _Key) -> _OrgMonth:
        view = self._views.get(key)
        if view is None:
            # A new month: views of earlier months are no longer consulted.
            for old in [k for k in self._views if k[1] < key[1]]:
                del self._views[old]
            view = self._views[key] = _OrgMonth()
        return view

    async def _fresh(self, view: _OrgMonth, key: _Key) -> Counter:
        age = time.monotonic() - view.fetched_at
        if view.counter is None or age > self._max_stale_s:
            async with view.lock:
                if view.counter is None or time.monotonic() - view.fetched_at > self._max_stale_s:
                    await self._refresh(view, key)
        elif age > self._refresh_s and view.refreshing is None:
            view.refreshing = asyncio.create_task(self._background_refresh(view, key))
        assert view.counter is not None
        return view.counter

    async def _background_refresh(self, view: _OrgMonth, key: _Key) -> None:
        try:
            async with view.lock:
                await self._refresh(view, key)
        finally:
            view.refreshing = None

    async def _refresh(self, view: _OrgMonth, key: _Key) -> None:
        mark = view.settled_total
        async with self._pool.connection() as conn:
            counter = await read_counter(conn, key[0], key[1])
        view.counter, view.settled_at_fetch, view.fetched_at = counter, mark, time.monotonic()

    # --- the write queue's batch hook -----------------------------------------------------
    async def on_batch(self, conn: Any, usage: Sequence[UsageRecord]) -> None:
        """Move the spend counters with the usage rows, then record threshold crossings."""
        changes = await apply_usage_batch(conn, usage)
        if not changes:
            return
        added = await record_crossings(conn, changes, email_enabled=self._email_enabled, known=self._alerted)
        if added and self._mailer is not None:
            # The rows become visible when this transaction commits, a moment from now.
            asyncio.get_running_loop().call_later(0.1, self._mailer.nudge)


def build_budget_guard(
    settings: Settings,
    pool: AsyncConnectionPool[Any],
    queue: WriteQueue,
    prices: dict[str, ModelPrice | None],
    background: list[asyncio.Task[None]],
    *,
    guard_options: dict[str, Any] | None = None,
    mailer_options: dict[str, Any] | None = None,
) -> BudgetGuard:
    """The guard the app uses; starts the alert sender when SendGrid is configured.

    The sender's task is appended to ``background`` (the lifespan cancels those at shutdown).
    ``guard_options``/``mailer_options`` tune timings (tests pass them through
    ``create_app(budget_factory=functools.partial(build_budget_guard, ...))``).
    """
    mailer: AlertMailer | None = None
    if settings.sendgrid_api_key:
        http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
        client = SendGridClient(
            http, base_url=settings.sendgrid_base_url, api_key=settings.sendgrid_api_key, sender=settings.email_from
        )
        mailer = AlertMailer(pool, client, **(mailer_options or {}))
        task = asyncio.get_running_loop().create_task(_run_mailer(mailer, http), name="budget-alert-mailer")
        background.append(task)
    options = dict(guard_options or {})
    if options.pop("legacy", False):  # the pre-lease guard, kept for comparison benchmarks
        legacy = MonthlyBudgetGuard(
            pool,
            queue,
            prices,
            email_enabled=mailer is not None,
            mailer=mailer,
            reservation_ttl_s=settings.upstream_timeout_s + 120.0,
            **options,
        )
        queue.add_hook(legacy.on_batch)
        return legacy
    from gateway.policy.lease_guard import LeaseBudgetGuard  # it imports helpers from this module

    guard = LeaseBudgetGuard(
        pool,
        queue,
        prices,
        email_enabled=mailer is not None,
        mailer=mailer,
        lease_fraction=settings.budget_lease_fraction,
        lease_ttl_s=settings.budget_lease_ttl_s,
        outage=settings.budget_outage,
        **options,
    )
    queue.add_hook(guard.on_batch)
    background.append(asyncio.get_running_loop().create_task(guard.run(), name="budget-leases"))
    return guard


async def _run_mailer(mailer: AlertMailer, http: httpx.AsyncClient) -> None:
    try:
        await mailer.run()
    finally:
        await http.aclose()
