"""The resolved caller: identity plus the organization and group policy that applies."""

from __future__ import annotations

import msgspec


class GroupPolicy(msgspec.Struct, frozen=True):
    group_id: str
    allowed_tiers: tuple[str, ...] | None
    system_prompt: str | None


class Limits(msgspec.Struct, frozen=True):
    """Rate limits and hard monthly budget of one scope (a key or a user); None = no limit."""

    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel: int | None = None
    monthly_budget_millicents: int | None = None


class OrgPolicy(msgspec.Struct, frozen=True):
    organization_id: str
    allowed_tiers: tuple[str, ...]
    # Model id -> tier name, or None when the model is disabled for the organization.
    model_tier_assignments: dict[str, str | None]
    system_prompt: str | None
    monthly_budget_millicents: int | None
    budget_alert_threshold: int
    budget_hard_limit: bool
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel: int | None = None


class Principal(msgspec.Struct, frozen=True):
    user_id: str
    organization_id: str
    role: str  # owner | admin | finance | member
    email: str
    org: OrgPolicy
    groups: tuple[GroupPolicy, ...] = ()
    key_id: str | None = None  # set when authenticated by API key
    auth: str = "api_key"  # api_key | jwt
    user_limits: Limits = msgspec.field(default_factory=Limits)
    key_limits: Limits = msgspec.field(default_factory=Limits)

    @property
    def is_admin(self) -> bool:
        return self.role in ("owner", "admin")

    @property
    def sees_whole_org(self) -> bool:
        """Owners, admins and finance read the whole organization's reports."""
        return self.role in ("owner", "admin", "finance")
