"""Organization members over HTTP: list, add (invite by e-mail with a role), change role, remove.

Owners and admins manage members; only owners grant, change or remove the owner role, and
the last owner can be neither demoted nor removed (an organization without an owner could
never be administered again). A user belongs to one organization (``users.organization_id``),
so inviting an e-mail that already belongs to another organization is a 409, not a move.
Removing a member soft-deletes the user and revokes their keys, since the principal
resolver treats a user without a membership row as a plain member. Every change leaves an
``audit_events`` row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from gateway.accounts import ROLES
from gateway.auth.principal import Principal
from gateway.errors import Conflict, Forbidden, InvalidRequest, NotFound
from gateway.key_admin import audit


class MemberInvite(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: str
    role: str = "member"
    display_name: str | None = None


class RoleChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    role: str


class MemberView(msgspec.Struct, frozen=True):
    user_id: str
    email: str
    display_name: str | None
    role: str
    status: str
    created_at: datetime | None


class MemberList(msgspec.Struct, frozen=True):
    data: list[MemberView]


_SELECT = """
SELECT u.id::text, u.email, u.display_name, COALESCE(m.role, 'member'), COALESCE(u.status, 'active'), u.created_at
FROM users u LEFT JOIN org_memberships m ON m.user_id = u.id AND m.organization_id = u.organization_id
WHERE u.organization_id = %s AND u.deleted_at IS NULL
"""


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden(
            f"only organization owners and admins may manage members (your role: {principal.role})",
            code="admin_required",
        )


def _check_role(role: str, principal: Principal) -> None:
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", param="role")
    if role == "owner" and principal.role != "owner":
        raise Forbidden("only owners may grant the owner role", code="owner_required")


async def list_members(conn: Any, principal: Principal) -> MemberList:
    require_admin(principal)
    rows = await (await conn.execute(_SELECT + "ORDER BY u.created_at, u.id", (principal.organization_id,))).fetchall()
    return MemberList(data=[MemberView(*r) for r in rows])


async def _one(conn: Any, principal: Principal, user_id: str, lock: bool = False) -> MemberView:
    sql = _SELECT + "AND u.id::text = %s" + (" FOR UPDATE OF u" if lock else "")
    row = await (await conn.execute(sql, (principal.organization_id, user_id))).fetchone()
    if row is None:
        raise NotFound(f"no member {user_id!r} in your organization", code="user_not_found")
    return MemberView(*row)


async def add_member(conn: Any, principal: Principal, invite: MemberInvite) -> MemberView:
    """Add a member, or bring back one who was removed, with the given role."""
    require_admin(principal)
    _check_role(invite.role, principal)
    email = invite.email.strip().lower()
    local, at, domain = email.partition("@")
    if not local or not at or "." not in domain or len(email) > 254:
        raise InvalidRequest(f"{invite.email!r} is not an e-mail address", param="email")
    org = principal.organization_id
    async with conn.transaction():
        # Serialise invitations of one e-mail so two admins cannot create it twice.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("member:" + email,))
        rows = await (
            await conn.execute(
                "SELECT id::text, organization_id::text, deleted_at FROM users WHERE lower(email) = %s", (email,)
            )
        ).fetchall()
        if any(r[1] != org and r[2] is None for r in rows):
            raise Conflict(f"{email} already belongs to another organization", code="email_taken", param="email")
        mine = [r for r in rows if r[1] == org]
        if any(r[2] is None for r in mine):
            raise Conflict(f"{email} is already a member; change their role instead", code="already_member")
        if mine:
            user_id = str(mine[0][0])
            await conn.execute(
                "UPDATE users SET deleted_at = NULL, status = 'active', updated_at = NOW() WHERE id = %s", (user_id,)
            )
        else:
            row = await (
                await conn.execute(
                    "INSERT INTO users (organization_id, email, username, display_name) VALUES (%s, %s, %s, %s) "
                    "RETURNING id::text",
                    (org, email, local, invite.display_name),
                )
            ).fetchone()
            assert row is not None
            user_id = str(row[0])
        await conn.execute(
            "INSERT INTO org_memberships (organization_id, user_id, role) VALUES (%s, %s, %s) "
            "ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role, updated_at = NOW()",
            (org, user_id, invite.role),
        )
        await audit(conn, principal, "member.added", "user", user_id, "create", {"email": email, "role": invite.role})
        view = await _one(conn, principal, user_id)
    return view


async def _owner_count(conn: Any, org: str) -> int:
    row = await (
        await conn.execute(
            "SELECT count(*) FROM org_memberships m JOIN users u ON u.id = m.user_id "
            "WHERE m.organization_id = %s AND m.role = 'owner' AND u.deleted_at IS NULL",
            (org,),
        )
    ).fetchone()
    return int(row[0]) if row else 0


async def _guard_owner_change(conn: Any, principal: Principal, current: MemberView) -> None:
    if current.role != "owner":
        return
    if principal.role != "owner":
        raise Forbidden("only owners may change or remove an owner", code="owner_required")
    # Lock the organization's owner rows so two concurrent demotions cannot both pass the count.
    await conn.execute(
        "SELECT 1 FROM org_memberships WHERE organization_id = %s AND role = 'owner' FOR UPDATE",
        (principal.organization_id,),
    )
    if await _owner_count(conn, principal.organization_id) <= 1:
        raise Conflict("an organization keeps at least one owner", code="last_owner")


async def change_role(conn: Any, principal: Principal, user_id: str, change: RoleChange) -> MemberView:
    require_admin(principal)
    _check_role(change.role, principal)
    async with conn.transaction():
        current = await _one(conn, principal, user_id, lock=True)
        if current.role == change.role:
            return current
        await _guard_owner_change(conn, principal, current)
        await conn.execute(
            "INSERT INTO org_memberships (organization_id, user_id, role) VALUES (%s, %s, %s) "
            "ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role, updated_at = NOW()",
            (principal.organization_id, user_id, change.role),
        )
        await audit(
            conn, principal, "member.role_changed", "user", user_id, "update", {"from": current.role, "to": change.role}
        )
        await conn.execute("SELECT pg_notify('gateway_cache', 'principals')")
    return msgspec.structs.replace(current, role=change.role)


async def remove_member(conn: Any, principal: Principal, user_id: str) -> MemberView:
    require_admin(principal)
    async with conn.transaction():
        current = await _one(conn, principal, user_id, lock=True)
        await _guard_owner_change(conn, principal, current)
        await conn.execute(
            "UPDATE users SET deleted_at = NOW(), status = 'inactive', updated_at = NOW() WHERE id = %s", (user_id,)
        )
        await conn.execute(
            "DELETE FROM org_memberships WHERE organization_id = %s AND user_id = %s",
            (principal.organization_id, user_id),
        )
        revoked = await (
            await conn.execute(
                "UPDATE gateway_api_keys SET revoked_at = NOW() WHERE user_id = %s AND revoked_at IS NULL "
                "RETURNING id::text",
                (user_id,),
            )
        ).fetchall()
        await audit(
            conn,
            principal,
            "member.removed",
            "user",
            user_id,
            "delete",
            {"email": current.email, "role": current.role, "keys_revoked": [r[0] for r in revoked]},
        )
        await conn.execute("SELECT pg_notify('gateway_cache', 'principals')")
    return msgspec.structs.replace(current, status="removed")
