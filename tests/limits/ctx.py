"""A request context whose principal carries key limits (for the rate-limit guard)."""

from __future__ import annotations

import uuid

import msgspec

from gateway.auth.principal import Limits
from gateway.policy.request import PolicyRequest
from tests.policy.lease_sim import context, principal


class _Org(msgspec.Struct, frozen=True):
    organization_id: str
    user_id: str


def limited_context(*, rpm: int, same_key_as: PolicyRequest | None = None) -> PolicyRequest:
    if same_key_as is not None:
        p = same_key_as.principal
    else:
        org = _Org(str(uuid.uuid4()), str(uuid.uuid4()))
        p = msgspec.structs.replace(principal(org, None), key_id=str(uuid.uuid4()))  # type: ignore[arg-type]
    return context(msgspec.structs.replace(p, key_limits=Limits(rpm_limit=rpm)))
