"""Keys and members over HTTP (see :mod:`gateway.key_admin` and :mod:`gateway.member_admin` for the rules).

* ``POST /v1/keys`` (201, the key returned once), ``GET /v1/keys``, ``DELETE /v1/keys/{key_id}``;
* ``GET|POST /v1/members``, ``PATCH|DELETE /v1/members/{user_id}`` for owners and admins.

Bodies are typed structs that forbid unknown fields; litestar's validation errors become
the gateway's 400 through the app's one exception handler.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, delete, get, patch, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody, PathParameter

from gateway.http.openapi_docs import error_responses
from gateway.key_admin import CreatedKey, KeyCreate, KeyList, KeyView, create_key, list_keys, revoke_key
from gateway.member_admin import (
    MemberInvite,
    MemberList,
    MemberView,
    RoleChange,
    add_member,
    change_role,
    list_members,
    remove_member,
)
from gateway.pipeline.resolve import authenticate
from gateway.services import Services

KeyId = Annotated[str, PathParameter(description="the key's id (from POST or GET /v1/keys)")]
UserId = Annotated[str, PathParameter(description="the member's user id")]


def _services(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


@post(
    "/v1/keys",
    status_code=201,
    summary="Create an API key (the secret is in this response only)",
    responses=error_responses(400, 401, 403, 404),
)
async def post_key(request: Request[Any, Any, Any], data: JSONBody[KeyCreate]) -> CreatedKey:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    async with services.pool.connection() as conn:
        return await create_key(conn, principal, data)


@get(
    "/v1/keys",
    summary="List keys: the organization's for owners and admins, else your own",
    responses=error_responses(401),
)
async def get_keys(request: Request[Any, Any, Any]) -> KeyList:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    async with services.pool.connection() as conn:
        return await list_keys(conn, principal)


@delete(
    "/v1/keys/{key_id:str}",
    status_code=200,
    summary="Revoke a key (takes effect on every replica at once)",
    responses=error_responses(401, 404),
)
async def delete_key(request: Request[Any, Any, Any], key_id: KeyId) -> KeyView:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    async with services.pool.connection() as conn:
        view = await revoke_key(conn, principal, key_id)
    # This process forgets the key at once; the others on the NOTIFY sent with the change.
    services.resolver.invalidate()
    return view


@get("/v1/members", summary="List the organization's members (owners and admins)", responses=error_responses(401, 403))
async def get_members(request: Request[Any, Any, Any]) -> MemberList:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    async with services.pool.connection() as conn:
        return await list_members(conn, principal)


@post(
    "/v1/members",
    status_code=201,
    summary="Add or invite a member by e-mail with a role (owners and admins)",
    responses=error_responses(400, 401, 403, 409),
)
async def post_member(request: Request[Any, Any, Any], data: JSONBody[MemberInvite]) -> MemberView:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    async with services.pool.connection() as conn:
        return await add_member(conn, principal, data)


@patch(
    "/v1/members/{user_id:str}",
    status_code=200,
    summary="Change a member's role (owners and admins; the owner role by owners only)",
    responses=error_responses(400, 401, 403, 404, 409),
)
async def patch_member(request: Request[Any, Any, Any], user_id: UserId, data: JSONBody[RoleChange]) -> MemberView:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    async with services.pool.connection() as conn:
        view = await change_role(conn, principal, user_id, data)
    services.resolver.invalidate()
    return view


@delete(
    "/v1/members/{user_id:str}",
    status_code=200,
    summary="Remove a member: the user is deactivated and their keys revoked",
    responses=error_responses(401, 403, 404, 409),
)
async def delete_member(request: Request[Any, Any, Any], user_id: UserId) -> MemberView:
    services = _services(request)
    principal = await authenticate(services, request.headers)
    async with services.pool.connection() as conn:
        view = await remove_member(conn, principal, user_id)
    services.resolver.invalidate()
    return view


ROUTES: list[HTTPRouteHandler] = [post_key, get_keys, delete_key, get_members, post_member, patch_member, delete_member]
