"""API keys over HTTP: create (the key shown once), list and revoke, each change audited.

Who may do what: every caller manages their own keys; owners and admins manage every key
of their organization and may mint one for another member. Another organization's key is
indistinguishable from a missing one (404), so ids leak nothing across tenants.

Rate-limit and budget fields per key (``rpm_limit``, ``tpm_limit``, ``max_parallel``,
``budget_usd``) arrive with the limits slice, which owns those columns and their
enforcement; until then the request type forbids unknown fields, so a caller sending them
gets a clear 400 rather than a silently ignored limit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from gateway.auth.keys import generate_key
from gateway.auth.principal import Principal
from gateway.errors import Forbidden, InvalidRequest, NotFound

MAX_EXPIRY_DAYS = 3650


class KeyCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /v1/keys``: ``user_id`` (owners and admins only) mints a key for another member."""

    name: str = "default"
    expires_in_days: int | None = None
    expires_at: datetime | None = None
    user_id: str | None = None


class KeyView(msgspec.Struct, frozen=True):
    id: str
    prefix: str
    name: str
    user_id: str
    email: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class CreatedKey(msgspec.Struct, frozen=True):
    """The new key: ``key`` is the secret, returned this once and never stored in clear."""

    key: str
    id: str
    prefix: str
    name: str
    user_id: str
    created_at: datetime
    expires_at: datetime | None


class KeyList(msgspec.Struct, frozen=True):
    data: list[KeyView]


_SELECT = """
SELECT k.id::text, k.prefix, k.name, k.user_id::text, u.email, k.created_at, k.expires_at, k.revoked_at,
       k.last_used_at
FROM gateway_api_keys k JOIN users u ON u.id = k.user_id
"""

_AUDIT_SQL = """
INSERT INTO audit_events (user_id, event_type, resource_type, resource_id, action, organization_id, metadata)
VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)
"""


async def audit(
    conn: Any,
    principal: Principal,
    event_type: str,
    resource_type: str,
    resource_id: str,
    action: str,
    metadata: dict[str, Any],
) -> None:
    """One ``audit_events`` row naming the acting user, the organization and what changed."""
    await conn.execute(
        _AUDIT_SQL,
        (
            principal.user_id,
            event_type,
            resource_type,
            resource_id,
            action,
            principal.organization_id,
            msgspec.json.encode(metadata).decode(),
        ),
    )


def _expiry(req: KeyCreate, now: datetime) -> datetime | None:
    if req.expires_in_days is not None and req.expires_at is not None:
        raise InvalidRequest("give expires_in_days or expires_at, not both", param="expires_in_days")
    if req.expires_in_days is not None:
        if not 1 <= req.expires_in_days <= MAX_EXPIRY_DAYS:
            raise InvalidRequest(f"expires_in_days must be between 1 and {MAX_EXPIRY_DAYS}", param="expires_in_days")
        return now + timedelta(days=req.expires_in_days)
    if req.expires_at is not None:
        at = req.expires_at if req.expires_at.tzinfo else req.expires_at.replace(tzinfo=UTC)
        if at <= now:
            raise InvalidRequest("expires_at must be in the future", param="expires_at")
        if at > now + timedelta(days=MAX_EXPIRY_DAYS):
            raise InvalidRequest(f"expires_at must be within {MAX_EXPIRY_DAYS} days", param="expires_at")
        return at
    return None


async def _member_of_org(conn: Any, organization_id: str, user_id: str) -> bool:
    row = await (
        await conn.execute(
            "SELECT 1 FROM users WHERE id::text = %s AND organization_id = %s AND deleted_at IS NULL",
            (user_id, organization_id),
        )
    ).fetchone()
    return row is not None


async def create_key(conn: Any, principal: Principal, req: KeyCreate) -> CreatedKey:
    name = req.name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidRequest("name must be 1 to 100 characters", param="name")
    now = datetime.now(UTC)
    expires = _expiry(req, now)
    owner = principal.user_id
    if req.user_id is not None and req.user_id != principal.user_id:
        if not principal.is_admin:
            raise Forbidden(
                f"only owners and admins may create keys for other members (your role: {principal.role})",
                code="admin_required",
            )
        if not await _member_of_org(conn, principal.organization_id, req.user_id):
            raise NotFound(f"no member {req.user_id!r} in your organization", code="user_not_found", param="user_id")
        owner = req.user_id
    key, prefix, digest = generate_key()
    async with conn.transaction():
        row = await (
            await conn.execute(
                "INSERT INTO gateway_api_keys (organization_id, user_id, name, prefix, key_hash, created_by, "
                "expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id::text, created_at",
                (principal.organization_id, owner, name, prefix, digest, principal.user_id, expires),
            )
        ).fetchone()
        assert row is not None
        key_id, created_at = str(row[0]), row[1]
        meta = {
            "name": name,
            "prefix": prefix,
            "user_id": owner,
            "expires_at": expires.isoformat() if expires else None,
        }
        await audit(conn, principal, "api_key.created", "api_key", key_id, "create", meta)
    return CreatedKey(
        key=key, id=key_id, prefix=prefix, name=name, user_id=owner, created_at=created_at, expires_at=expires
    )


def _view(row: Any) -> KeyView:
    return KeyView(*row)


async def list_keys(conn: Any, principal: Principal) -> KeyList:
    """Owners and admins see the organization's keys; everyone else sees their own."""
    args: tuple[str, ...]
    if principal.is_admin:
        sql, args = _SELECT + "WHERE k.organization_id = %s ORDER BY k.created_at, k.id", (principal.organization_id,)
    else:
        sql = _SELECT + "WHERE k.organization_id = %s AND k.user_id = %s ORDER BY k.created_at, k.id"
        args = (principal.organization_id, principal.user_id)
    rows = await (await conn.execute(sql, args)).fetchall()
    return KeyList(data=[_view(r) for r in rows])


async def revoke_key(conn: Any, principal: Principal, key_id: str) -> KeyView:
    """Revoke one key (idempotent: revoking a revoked key answers it unchanged, with no new audit row)."""
    async with conn.transaction():
        row = await (
            await conn.execute(
                _SELECT + "WHERE k.id::text = %s AND k.organization_id = %s FOR UPDATE OF k",
                (key_id, principal.organization_id),
            )
        ).fetchone()
        # Another organization's key and a member's view of a colleague's key are both 404:
        # the caller learns nothing about keys they cannot manage.
        if row is None or (not principal.is_admin and str(row[3]) != principal.user_id):
            raise NotFound(f"no API key {key_id!r}", code="key_not_found")
        view = _view(row)
        if view.revoked_at is not None:
            return view
        done = await (
            await conn.execute(
                "UPDATE gateway_api_keys SET revoked_at = NOW() WHERE id = %s RETURNING revoked_at", (view.id,)
            )
        ).fetchone()
        assert done is not None
        await audit(
            conn, principal, "api_key.revoked", "api_key", view.id, "revoke", {"prefix": view.prefix, "name": view.name}
        )
        await conn.execute("SELECT pg_notify('gateway_cache', 'principals')")
    return msgspec.structs.replace(view, revoked_at=done[0])
