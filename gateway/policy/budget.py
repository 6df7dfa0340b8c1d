"""The budget seam: admission reserves a request's worst-case cost, settlement releases it.

``NoBudget`` admits everything; the real guard (monthly budgets, alerts, reservations
that hold under concurrency) implements the same two calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.proxy.context import RequestContext


class BudgetGuard(Protocol):
    async def admit(self, ctx: RequestContext) -> None:
        """Reserve the request's worst-case cost or raise ``BudgetExhausted``."""
        ...

    def settle(self, ctx: RequestContext, cost_millicents: int) -> None:
        """Replace the reservation with the actual cost (no I/O; may queue work)."""
        ...


class NoBudget:
    """Admits every request; used when budgets are not enforced."""

    async def admit(self, ctx: RequestContext) -> None:
        return None

    def settle(self, ctx: RequestContext, cost_millicents: int) -> None:
        return None
