"""The budget seam: admission reserves a model call's worst-case cost, settlement releases it.

``NoBudget`` admits everything; the real guard (monthly budgets, alerts, reservations that
hold under concurrency, ``gateway.policy.budget_guard``) implements the same two calls. The
pipeline wraps a guard as one of its admission steps (``gateway.pipeline.admission``).
"""

from __future__ import annotations

from typing import Protocol

from gateway.policy.request import PolicyRequest


class BudgetTicket(Protocol):
    """What a guard handed out for one admitted call."""

    @property
    def reserved_millicents(self) -> int:
        """The strict (database) reservation this call holds; 0 when none."""
        ...


class BudgetGuard(Protocol):
    async def admit(self, req: PolicyRequest) -> BudgetTicket | None:
        """Reserve the call's worst-case cost (None: nothing held) or raise ``BudgetExhausted``."""
        ...

    def settle(self, ticket: BudgetTicket, cost_millicents: int) -> None:
        """Replace the reservation with the actual cost (no I/O; may queue work). Called once."""
        ...


class NoBudget:
    """Admits every request; used when budgets are not enforced."""

    async def admit(self, req: PolicyRequest) -> BudgetTicket | None:
        return None

    def settle(self, ticket: BudgetTicket, cost_millicents: int) -> None:
        return None
