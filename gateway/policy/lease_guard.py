"""Hard monthly budgets of organizations, users and keys, admitted against leases.

Per budget scope (``org:``, ``user:``, ``key:``) this process holds one lease: headroom taken
atomically from the scope's counter row (``lease_state.take``), which every other process
sees as reserved. A request whose worst-case cost fits in what the lease has left is
admitted with no database round trip; otherwise the lease grows by a fraction of the
remaining headroom (at least the request's worst case). As headroom shrinks, so do the
grants, down to exactly one request's worst case near the limit: then every request takes
its own strict reservation. Nothing is admitted that no counter row holds, so whatever the
number of processes, the spend can pass the budget only by what worst-case estimates
under-estimated.

Each admitted request carries one ``BudgetHold`` per scope on its usage record; the write
batch that inserts the row moves the held amount from reserved to spent. A background task
renews the leases before they expire, gives back what an idle or oversized lease holds, and
reclaims expired leases of dead processes; at shutdown the leases are given back.

During a database outage (``GATEWAY_BUDGET_OUTAGE``): ``lease`` admits against the leases
already held until they run out or expire, ``closed`` refuses budgeted requests with 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from gateway.auth.memo import PerPrincipal
from gateway.auth.principal import Principal
from gateway.errors import BudgetExhausted, ServiceUnavailable
from gateway.policy.alerts import AlertMailer, record_crossings
from gateway.policy.budget_guard import input_estimate_tokens
from gateway.policy.budget_state import apply_usage_batch, month_bounds, month_of, next_month
from gateway.policy.lease_state import counter_of, give_back, reclaim_expired, renew, take
from gateway.policy.request import PolicyRequest
from gateway.store.queue import WriteQueue
from gateway.store.records import AuditRecord, BudgetHold, UsageRecord
from pricing import ModelPrice, max_cost_millicents
from pricing.money import format_usd

log = logging.getLogger(__name__)

_DB_ERRORS = (psycopg.OperationalError, PoolTimeout, OSError)
# Worst cases remembered per guard (requests repeat a few shapes); the memo restarts when full.
_WORST_CASES_KEPT = 4096


@dataclass(slots=True)
class _Lease:
    """This process's lease on one scope's month."""

    scope: str
    month: date
    lease_id: str | None = None
    free: int = 0  # headroom not yet handed to a request
    valid_until: float = 0.0  # monotonic; past it the lease may have been reclaimed
    used_since_renew: bool = False
    budget: int = 0  # the scope's budget when last granted (for shrinking)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(slots=True)
class LeaseTicket:
    """What one admitted call holds: one ``BudgetHold`` per budget scope.

    The holds travel on the call's usage row (``recorded``); if no row is ever queued (the
    call was refused by a later step), settlement hands them back to this process's leases.
    """

    budget_holds: tuple[BudgetHold, ...]
    month: date
    recorded: bool = False
    reserved_millicents: int = 0  # no legacy per-request reservation row

    def mark_recorded(self) -> None:
        self.recorded = True


class _Scope(msgspec.Struct, frozen=True):
    # A msgspec Struct: built for every budgeted request, and a frozen dataclass's __init__
    # (object.__setattr__ per field) costs several times more.
    scope: str
    kind: str  # org | user | key
    budget: int


def _scopes(p: Principal) -> list[_Scope]:
    out: list[_Scope] = []
    if p.org.monthly_budget_millicents is not None and p.org.budget_hard_limit:
        out.append(_Scope("org:" + p.organization_id, "org", p.org.monthly_budget_millicents))
    if p.user_limits.monthly_budget_millicents is not None:
        out.append(_Scope("user:" + p.user_id, "user", p.user_limits.monthly_budget_millicents))
    if p.key_id is not None and p.key_limits.monthly_budget_millicents is not None:
        out.append(_Scope("key:" + p.key_id, "key", p.key_limits.monthly_budget_millicents))
    return out


class LeaseBudgetGuard:
    """Admits requests against budget leases and keeps the leases alive."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        queue: WriteQueue,
        prices: dict[str, ModelPrice | None],
        *,
        email_enabled: bool = False,
        mailer: AlertMailer | None = None,
        lease_fraction: float = 0.1,
        lease_ttl_s: float = 60.0,
        outage: str = "lease",
        holder: str = "process",
    ) -> None:
        self._pool = pool
        self._queue = queue
        self._prices = prices
        self._email_enabled = email_enabled
        self._mailer = mailer
        self._fraction = lease_fraction
        self._ttl = lease_ttl_s
        self._outage = outage
        self._holder = holder
        self._leases: dict[tuple[str, date], _Lease] = {}
        self._alerted: set[tuple[str, date, int]] = set()
        self._db_ok = True
        self._inflight: dict[str, int] = {}  # scope -> worst case of admitted, unsettled calls here
        # (model, input estimate, max output) -> (the price it was computed with, worst case)
        self._worst: dict[tuple[str, int, int], tuple[ModelPrice, int]] = {}
        self._scopes = PerPrincipal(_scopes)
        self._month, self._month_start, self._month_end = date.min, 0.0, 0.0  # see _current_month

    # --- request path ---------------------------------------------------------------------
    def worst_case(self, req: PolicyRequest) -> int:
        price = self._prices.get(req.model.id)
        if price is None:
            return 0
        tokens, out = input_estimate_tokens(req), max(0, req.max_output_tokens)
        key = (req.model.id, tokens, out)
        known = self._worst.get(key)
        if known is not None and known[0] is price:  # the same price object: the same answer
            return known[1]
        if len(self._worst) >= _WORST_CASES_KEPT:
            self._worst.clear()
        x = max_cost_millicents(price, tokens, out)
        self._worst[key] = (price, x)
        return x

    def _current_month(self) -> date:
        """The UTC month now, recomputed only when the clock leaves the month last seen."""
        now = time.time()
        if not self._month_start <= now < self._month_end:
            month = month_of(datetime.now(UTC))
            start, end = month_bounds(month)
            self._month, self._month_start, self._month_end = month, start.timestamp(), end.timestamp()
        return self._month

    async def admit(self, req: PolicyRequest) -> LeaseTicket | None:
        scopes = self._scopes.get(req.principal)
        if not scopes:
            return None
        if not self._db_ok and self._outage == "closed":
            raise ServiceUnavailable(
                "the gateway cannot check budgets while its database is away (GATEWAY_BUDGET_OUTAGE=closed); retry",
                code="budget_unavailable",
            )
        x = self.worst_case(req)
        month = self._current_month()
        holds: list[BudgetHold] = []
        # The common case, inline: every scope's lease has room (no coroutine, one clock read).
        now = time.monotonic()
        for s in scopes:
            lease = self._leases.get((s.scope, month))
            if lease is None or lease.lease_id is None or lease.free < x or now > lease.valid_until:
                break
            lease.free -= x
            lease.used_since_renew = True
            holds.append(BudgetHold(lease.lease_id, s.scope, x))
        if len(holds) < len(scopes):
            try:
                for s in scopes[len(holds) :]:
                    holds.append(await self._hold(req, s, month, x))
            except BaseException:  # re-raised: only the earlier scopes' local holds are given back
                self._give_local(holds, month)  # a later scope refused: earlier holds go back
                raise
        inflight = self._inflight
        for h in holds:
            inflight[h.scope] = inflight.get(h.scope, 0) + h.amount
        return LeaseTicket(tuple(holds), month)

    def settle(self, ticket: object, cost_millicents: int) -> None:
        """A recorded call's holds are released by the batch landing its row; others come back here."""
        if not isinstance(ticket, LeaseTicket):
            return
        for h in ticket.budget_holds:
            self._inflight[h.scope] = self._inflight.get(h.scope, 0) - h.amount
        if not ticket.recorded:
            self._give_local(ticket.budget_holds, ticket.month)

    def inflight_millicents(self, organization_id: str) -> int:
        """Worst case of the organization's calls admitted here and not yet settled."""
        return self._inflight.get("org:" + organization_id, 0)

    def _give_local(self, holds: Sequence[BudgetHold], month: date) -> None:
        for h in holds:
            lease = self._leases.get((h.scope, month))
            if lease is not None and lease.lease_id == h.lease_id:
                lease.free += h.amount

    async def _hold(self, req: PolicyRequest, s: _Scope, month: date, x: int) -> BudgetHold:
        lease = self._lease(s.scope, month)
        if self._take_local(lease, x):
            assert lease.lease_id is not None
            return BudgetHold(lease.lease_id, s.scope, x)
        async with lease.lock:
            if self._take_local(lease, x):
                assert lease.lease_id is not None
                return BudgetHold(lease.lease_id, s.scope, x)
            # The lease ran short: the queued usage rows carry holds whose landing turns them
            # into their (lower) actual cost, so land them now, not at the next tick.
            self._queue.flush_soon()
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    grant = await take(
                        conn,
                        scope=s.scope,
                        month=month,
                        budget=s.budget,
                        lease_id=lease.lease_id,
                        holder=self._holder,
                        fraction=self._fraction,
                        need=x,
                        ttl_s=self._ttl,
                    )
            except _DB_ERRORS:
                self._db_ok = False
                raise
            self._db_ok = True
            if grant.granted == 0:
                self._refuse(req, s, month, grant.spent_millicents, grant.reserved_millicents, x)
            if grant.lease_id != lease.lease_id:
                lease.lease_id, lease.free = grant.lease_id, 0  # the old one was reclaimed
            lease.free += grant.granted - x
            lease.valid_until = time.monotonic() + self._ttl * 0.8
            lease.used_since_renew = True
            lease.budget = s.budget
            return BudgetHold(grant.lease_id, s.scope, x)

    @staticmethod
    def _take_local(lease: _Lease, x: int) -> bool:
        if lease.lease_id is None or lease.free < x or time.monotonic() > lease.valid_until:
            return False
        lease.free -= x
        lease.used_since_renew = True
        return True

    def _lease(self, scope: str, month: date) -> _Lease:
        lease = self._leases.get((scope, month))
        if lease is None:
            lease = self._leases[(scope, month)] = _Lease(scope, month)
        return lease

    def _refuse(self, req: PolicyRequest, s: _Scope, month: date, spent: int, reserved: int, x: int) -> None:
        resets = next_month(month).isoformat()
        held = f" ({format_usd(reserved)} more is held by requests in flight)" if reserved else ""
        whose = {"org": "your organization", "user": "your user", "key": "this API key"}[s.kind]
        message = (
            f"monthly budget exhausted: {whose} has spent {format_usd(spent)} of its {format_usd(s.budget)} "
            f"budget this month{held}, and this request could cost up to {format_usd(x)}. The budget resets on "
            f"{resets} 00:00 UTC; an organization owner or admin can raise it."
        )
        code = "budget_exhausted" if s.kind == "org" else f"{s.kind}_budget_exhausted"
        self._queue.put(
            AuditRecord(
                id=str(uuid.uuid4()),
                user_id=req.principal.user_id,
                event_type="request.refused",
                resource_type="model",
                resource_id=req.model.id,
                action=code,
                organization_id=req.principal.organization_id,
                metadata={
                    "request_id": req.request_id,
                    "budget": s.kind,
                    "scope": s.scope,
                    "spent_millicents": spent,
                    "reserved_millicents": reserved,
                    "budget_millicents": s.budget,
                    "request_worst_case_millicents": x,
                    "resets_on": resets,
                },
                created_at=req.created_at,
            )
        )
        raise BudgetExhausted(message, code=code)

    # --- background: renew, shrink, reclaim; shutdown: give back ----------------------------
    async def run(self, interval_s: float | None = None) -> None:
        """Renew leases every ``interval_s`` (a quarter of the TTL by default) until cancelled."""
        every = interval_s if interval_s is not None else self._ttl / 4
        while True:
            await asyncio.sleep(every)
            try:
                await self.maintain()
                self._db_ok = True
            except _DB_ERRORS as exc:
                self._db_ok = False
                log.warning("budget leases not renewed (database unreachable): %s", exc)

    async def maintain(self) -> None:
        """One renewal round: extend open leases, give back idle ones, reclaim expired ones."""
        current = month_of(datetime.now(UTC))
        open_leases = [le for le in self._leases.values() if le.lease_id is not None]
        async with self._pool.connection() as conn:
            alive = await renew(conn, [le.lease_id for le in open_leases if le.lease_id], self._ttl)
            now = time.monotonic()
            for le in open_leases:
                if le.lease_id not in alive:
                    le.lease_id, le.free = None, 0  # reclaimed by another process
                    continue
                le.valid_until = now + self._ttl * 0.8
                if le.month != current or not le.used_since_renew:
                    # Idle (or last month's): what it holds is better used by other processes.
                    amount, le.free = le.free, 0
                    await give_back(conn, le.lease_id, amount)
                elif le.free > 0:
                    # Leases shrink as the headroom shrinks: keep what a take would grant now.
                    spent, reserved = await counter_of(conn, le.scope, le.month)
                    target = int((le.budget - spent - reserved + le.free) * self._fraction)
                    if le.free > 2 * max(target, 1):
                        amount = le.free - target
                        le.free = target  # before the await: admissions meanwhile see the new size
                        await give_back(conn, le.lease_id, amount)
                le.used_since_renew = False
            for scope, month in {(le.scope, le.month) for le in self._leases.values()}:
                await reclaim_expired(conn, scope, month)
        for key in [k for k, le in self._leases.items() if k[1] < current and le.lease_id is None]:
            del self._leases[key]

    async def close(self) -> None:
        """Give back every lease (call after the write queue drained, so the holds have landed)."""
        leases = [le for le in self._leases.values() if le.lease_id is not None]
        if not leases:
            return
        with contextlib.suppress(*_DB_ERRORS):
            async with self._pool.connection() as conn:
                for le in leases:
                    assert le.lease_id is not None
                    await give_back(conn, le.lease_id, le.free, close=True)
                    le.lease_id, le.free = None, 0

    # --- the write queue's batch hook -----------------------------------------------------
    async def on_batch(self, conn: Any, usage: Sequence[UsageRecord]) -> None:
        """Move the spend counters and release the lease holds (one call), then record crossings."""
        changes = await apply_usage_batch(conn, usage)
        if not changes:
            return
        added = await record_crossings(conn, changes, email_enabled=self._email_enabled, known=self._alerted)
        if added and self._mailer is not None:
            asyncio.get_running_loop().call_later(0.1, self._mailer.nudge)
