"""Admission: the ordered steps a model call must pass before it goes upstream.

Each step looks at a ``PolicyRequest`` and either refuses (raises a ``GatewayError``:
402, 429, ...) or returns a ``Hold`` (or None when it holds nothing). ``Admission.admit``
runs the steps in order; if a later step refuses, the holds already taken are released at
once. Settlement releases the holds of an admitted call exactly once, on every path, with
the call's actual cost.

The steps are the rate limits (per key, user and organization) and the budget (a strict
reservation or a lease). To add one, write a class with ``name``, ``applies`` and ``acquire``
returning a ``Hold``, and put it in the tuple ``build_admission`` returns, in the order the
steps must run (cheap, local checks first). ``applies`` says from the principal alone
whether the step can hold or refuse anything. Admission runs only the steps that apply (worked
out once per principal object), and when none does (a caller with no limit and no hard budget,
the common case) the pipeline skips admission altogether. A step must
not do I/O on the common path; keep shared state in Redis or PostgreSQL as the
architecture says.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.auth.memo import PerPrincipal
from gateway.auth.principal import Principal
from gateway.policy.budget import BudgetGuard, BudgetTicket
from gateway.policy.request import CallOutcome, PolicyRequest
from gateway.store.records import BudgetHold

log = logging.getLogger(__name__)


class Hold(Protocol):
    """Something an admitted call holds until it is settled (a reservation, a slot, a lease)."""

    @property
    def reserved_millicents(self) -> int:
        """Money held in the database for this call (recorded on its usage row); 0 when none."""
        ...

    def release(self, outcome: CallOutcome) -> None:
        """Give the hold back, knowing what the call actually used. Called exactly once; no I/O."""
        ...


class AdmissionStep(Protocol):
    """One admission check. Refuse by raising a ``GatewayError``; admit by returning a hold."""

    name: str

    def applies(self, principal: Principal) -> bool:
        """Whether this step can hold or refuse anything for ``principal`` (no I/O)."""
        ...

    async def acquire(self, req: PolicyRequest) -> Hold | None: ...


@dataclass(slots=True)
class _BudgetHold:
    guard: BudgetGuard
    ticket: BudgetTicket

    @property
    def reserved_millicents(self) -> int:
        return self.ticket.reserved_millicents

    def release(self, outcome: CallOutcome) -> None:
        self.guard.settle(self.ticket, outcome.cost_millicents)

    @property
    def budget_holds(self) -> tuple[BudgetHold, ...]:
        """Lease holds the usage row carries, so the batch that lands it releases them."""
        return tuple(getattr(self.ticket, "budget_holds", ()))

    def mark_recorded(self) -> None:
        mark = getattr(self.ticket, "mark_recorded", None)
        if mark is not None:
            mark()


class BudgetStep:
    """The monthly budget: reserve the call's worst case, settle the actual cost."""

    name = "budget"

    def __init__(self, guard: BudgetGuard) -> None:
        self._guard = guard

    def applies(self, principal: Principal) -> bool:
        """A hard organization budget, or a budget on the user or the key (what the guards check)."""
        return (
            (principal.org.monthly_budget_millicents is not None and principal.org.budget_hard_limit)
            or principal.user_limits.monthly_budget_millicents is not None
            or (principal.key_id is not None and principal.key_limits.monthly_budget_millicents is not None)
        )

    async def acquire(self, req: PolicyRequest) -> Hold | None:
        ticket = await self._guard.admit(req)
        return None if ticket is None else _BudgetHold(self._guard, ticket)


class Admission:
    """The ordered admission steps; built once with the services."""

    def __init__(self, steps: Sequence[AdmissionStep]) -> None:
        self.steps = tuple(steps)
        # The steps that apply to a principal, in order, worked out once per principal object.
        self._applying = PerPrincipal(self._steps_for)

    def _steps_for(self, principal: Principal) -> tuple[AdmissionStep, ...]:
        return tuple(step for step in self.steps if step.applies(principal))

    def needed(self, principal: Principal) -> bool:
        """Whether any step applies to ``principal`` (else ``admit`` would hold nothing)."""
        return bool(self._applying.get(principal))

    async def admit(self, req: PolicyRequest) -> list[Hold]:
        """Run the steps that apply; on a refusal release what earlier steps took, then re-raise.

        A step that does not apply to the caller is not run: it could neither hold nor refuse
        anything (rate limits but no hard budget, say, cost no budget step).
        """
        holds: list[Hold] = []
        try:
            for step in self._applying.get(req.principal):
                hold = await step.acquire(req)
                if hold is not None:
                    holds.append(hold)
        except BaseException:  # re-raised: the holds already taken go back first
            release_all(holds, CallOutcome("error"))
            raise
        return holds


def release_all(holds: Sequence[Hold], outcome: CallOutcome) -> None:
    """Release every hold with the call's outcome."""
    for hold in holds:
        try:
            hold.release(outcome)
        except Exception:
            # Safe: a release is local bookkeeping; one failing (a bug, logged) must not
            # keep the other holds, or the rest of settlement, from running.
            log.exception("releasing an admission hold failed (%s)", type(hold).__name__)


def recorded_budget_holds(holds: Sequence[Hold]) -> tuple[BudgetHold, ...]:
    """The lease holds of a call whose usage row is being queued (each marked as travelling on it)."""
    out: list[BudgetHold] = []
    for hold in holds:
        found = getattr(hold, "budget_holds", ())
        if found:
            out.extend(found)
            hold.mark_recorded()  # type: ignore[attr-defined]
    return tuple(out)


def build_admission(budget: BudgetGuard, limits: AdmissionStep | None = None) -> Admission:
    """The steps in order: rate limits (one Redis round trip, or local), then the budget."""
    return Admission((limits, BudgetStep(budget)) if limits is not None else (BudgetStep(budget),))
