"""Organization administration over HTTP: policy (tiers, model tiers, budget) and budget status.

* ``GET``/``PATCH /v1/organizations/{organization_id}/policy``: owners and admins of that
  organization only (``me`` names the caller's own); members get 403, and nobody reaches
  another organization (403, whatever their role there).
* ``GET /v1/budget``: the caller's organization's month to date, for owners, admins and finance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get, patch
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from gateway.auth.principal import Principal
from gateway.errors import Forbidden, InvalidRequest
from gateway.pipeline.resolve import authenticate
from gateway.policy.org_admin import BudgetStatus, PolicyPatch, PolicyView, apply_patch, budget_status, read_policy
from gateway.services import Services

_patch_decoder = msgspec.json.Decoder(PolicyPatch)
OrgId = Annotated[str, PathParameter(description="an organization id, or 'me'")]


def _own_admin(principal: Principal, organization_id: str) -> str:
    """The organization id the caller may administer, or Forbidden."""
    target = principal.organization_id if organization_id == "me" else organization_id
    if target != principal.organization_id:
        raise Forbidden("you may only manage your own organization", code="other_organization")
    if not principal.is_admin:
        raise Forbidden(
            f"only organization owners and admins may read or change its policy (your role: {principal.role})",
            code="admin_required",
        )
    return target


@get("/v1/organizations/{organization_id:str}/policy", summary="The organization's tiers, model tiers and budget")
async def get_policy(request: Request[Any, Any, Any], organization_id: OrgId) -> PolicyView:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    target = _own_admin(principal, organization_id)
    async with services.pool.connection() as conn:
        return await read_policy(conn, target)


@patch(
    "/v1/organizations/{organization_id:str}/policy",
    status_code=200,
    summary="Change tiers, model tier assignments or budget (owners and admins)",
)
async def patch_policy(request: Request[Any, Any, Any], organization_id: OrgId) -> PolicyView:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    target = _own_admin(principal, organization_id)
    try:
        change = _patch_decoder.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"invalid policy change: {exc}") from None
    known = {m.id for m in services.catalog.models()}
    async with services.pool.connection() as conn:
        view = await apply_patch(conn, target, principal.user_id, change, known)
    # This process applies the change at once; the others on the NOTIFY the change sent.
    services.resolver.invalidate()
    return view


@get("/v1/budget", summary="Month-to-date spend, budget, reservations and month-end projection")
async def get_budget(request: Request[Any, Any, Any]) -> BudgetStatus:
    services: Services = request.app.state.services
    principal = await authenticate(services, request.headers)
    if not principal.sees_whole_org:
        raise Forbidden(
            f"only organization owners, admins and finance may read the budget (your role: {principal.role})",
            code="finance_required",
        )
    async with services.pool.connection() as conn:
        return await budget_status(conn, principal.organization_id, datetime.now(UTC))


ROUTES: list[HTTPRouteHandler] = [get_policy, patch_policy, get_budget]
