"""Builds the budget guard the app uses (placeholder: budgets not enforced yet)."""

from __future__ import annotations

from gateway.policy.budget import BudgetGuard, NoBudget
from gateway.services import Services


def build_budget_guard(services: Services) -> BudgetGuard:
    return NoBudget()
