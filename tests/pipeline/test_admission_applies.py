"""``Admission.needed``: admission is skipped only for callers no step can hold or refuse.

The pipeline skips admission when no step ``applies``; a step that said no while its guard
would have held something would let a limited caller through unchecked. So each step's
``applies`` is checked against what its guard actually scopes, over every combination of
limits and budgets at the key, user and organization levels. ``admit`` likewise runs only the
steps that apply.
"""

from __future__ import annotations

import asyncio
import itertools

import msgspec

from gateway.auth.memo import PerPrincipal
from gateway.auth.principal import Limits, OrgPolicy, Principal
from gateway.config import ModelEntry
from gateway.limits.guard import RateLimitGuard, scope_limits
from gateway.limits.local import LocalLimiter
from gateway.metrics import Metrics
from gateway.pipeline.admission import Admission, BudgetStep, Hold
from gateway.policy.lease_guard import _scopes
from gateway.policy.request import PolicyRequest


def _principal(org_budget: bool, hard: bool, org_rpm: bool, user: Limits, key: Limits, has_key: bool) -> Principal:
    org = OrgPolicy(
        organization_id="o1",
        allowed_tiers=("basic", "standard", "premium"),
        model_tier_assignments={},
        system_prompt=None,
        monthly_budget_millicents=100_000 if org_budget else None,
        budget_alert_threshold=80,
        budget_hard_limit=hard,
        rpm_limit=10 if org_rpm else None,
    )
    return Principal(
        user_id="u1",
        organization_id="o1",
        role="member",
        email="u1@example.com",
        org=org,
        key_id="k1" if has_key else None,
        user_limits=user,
        key_limits=key,
    )


_LIMITS = (
    Limits(),
    Limits(rpm_limit=5),
    Limits(tpm_limit=100),
    Limits(max_parallel=2),
    Limits(monthly_budget_millicents=500),
)


def _principals() -> list[Principal]:
    flags = (False, True)
    return [
        _principal(ob, hard, rpm, user, key, has_key)
        for ob, hard, rpm, has_key in itertools.product(flags, flags, flags, flags)
        for user, key in itertools.product(_LIMITS, _LIMITS if has_key else (Limits(),))
    ]


def test_budget_step_applies_exactly_when_the_lease_guard_scopes_a_budget() -> None:
    step = BudgetStep(guard=None)  # type: ignore[arg-type]  # applies() reads only the principal
    principals = _principals()
    assert len(principals) == 240  # 8 org settings x (25 user x key limit pairs with a key, 5 without)
    for p in principals:
        assert step.applies(p) == bool(_scopes(p)), p


def test_rate_limit_step_applies_exactly_when_a_scope_is_limited() -> None:
    guard = RateLimitGuard(LocalLimiter(), Metrics())
    for p in _principals():
        assert guard.applies(p) == bool(scope_limits(p)), p


def test_admission_is_needed_when_any_step_applies() -> None:
    guard = RateLimitGuard(LocalLimiter(), Metrics())
    admission = Admission((guard, BudgetStep(guard=None)))  # type: ignore[arg-type]
    free = _principal(True, False, False, Limits(), Limits(), True)  # a soft budget holds nothing
    assert not admission.needed(free)
    assert admission.needed(_principal(False, False, False, Limits(), Limits(max_parallel=1), True))
    assert admission.needed(_principal(True, True, False, Limits(), Limits(), False))
    # A key's budget counts only when the caller came with that key.
    assert not admission.needed(_principal(False, False, False, Limits(), Limits(monthly_budget_millicents=1), False))


class _Step:
    """A step that applies only to one user, and records whom it was asked to admit."""

    name = "recording"

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.admitted: list[str] = []

    def applies(self, principal: Principal) -> bool:
        return principal.user_id == self.user_id

    async def acquire(self, req: PolicyRequest) -> Hold | None:
        self.admitted.append(req.principal.user_id)
        return None


def test_admit_runs_only_the_steps_that_apply() -> None:
    first, second = _Step("u1"), _Step("u2")
    admission = Admission((first, second))
    u1 = _principal(False, False, False, Limits(), Limits(), True)
    u2 = msgspec.structs.replace(u1, user_id="u2")
    nobody = msgspec.structs.replace(u1, user_id="u3")
    entry = ModelEntry(id="m", provider="openai", tier="basic", upstream="m")

    def request(p: Principal) -> PolicyRequest:
        return PolicyRequest("r", "", p, entry, 2, 10)

    for p in (u1, u2, u2, nobody):
        assert asyncio.run(admission.admit(request(p))) == []
    assert (first.admitted, second.admitted) == (["u1"], ["u2", "u2"])
    assert [admission.needed(p) for p in (u1, u2, nobody)] == [True, True, False]


def test_per_principal_derives_once_per_principal_object() -> None:
    seen: list[Principal] = []

    def derive(p: Principal) -> str:
        seen.append(p)
        return p.user_id

    memo = PerPrincipal(derive, keep=2)
    a = _principal(True, True, False, Limits(), Limits(), True)
    b = msgspec.structs.replace(a)  # equal, but another object (a refreshed cache entry)
    assert [memo.get(a), memo.get(a), memo.get(b), memo.get(b)] == [a.user_id] * 4
    assert [x is a for x in seen] == [True, False]  # each object derived once
    c = _principal(False, False, True, Limits(), Limits(), False)
    memo.get(c)  # a third object: the memo (keep=2) starts over
    memo.get(a)
    assert len(seen) == 4
