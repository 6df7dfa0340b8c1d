"""Keys and members over HTTP against the running server: one-time reveal, scope, audit, 404 across tenants."""

from __future__ import annotations

import time

import httpx
import psycopg

from gateway import accounts
from gateway.accounts import BootstrapResult
from tests.policy.helpers import Conn, add_user, audit_rows
from tests.support.mock_upstream import MockUpstream
from tests.support.server import GatewayServer


def _h(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _until_status(url: str, key: str, status: int) -> int:
    """The status of GET url with key, polled until it is ``status`` (caches expire on NOTIFY or TTL)."""
    deadline = time.monotonic() + 5
    got = httpx.get(url, headers=_h(key)).status_code
    while got != status and time.monotonic() < deadline:
        time.sleep(0.05)
        got = httpx.get(url, headers=_h(key)).status_code
    return got


def test_key_lifecycle_create_once_use_list_revoke(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn
) -> None:
    r = httpx.post(gateway.url + "/v1/keys", headers=_h(org.api_key), json={"name": "ci", "expires_in_days": 30})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["key"].startswith("gw_" + created["prefix"] + "_")
    assert created["name"] == "ci" and created["user_id"] == org.user_id and created["expires_at"] is not None
    # The new key works, and the secret is never listed again.
    assert httpx.get(gateway.url + "/v1/models", headers=_h(created["key"])).status_code == 200
    listed = httpx.get(gateway.url + "/v1/keys", headers=_h(org.api_key)).json()["data"]
    assert {k["id"] for k in listed} >= {created["id"]}
    assert all("key" not in k for k in listed) and created["key"] not in r.text.replace(created["key"], "", 1)
    stored = conn.execute("SELECT key_hash FROM gateway_api_keys WHERE id = %s", (created["id"],)).fetchone()
    assert stored is not None and created["key"].encode() not in bytes(stored[0])
    d = httpx.delete(f"{gateway.url}/v1/keys/{created['id']}", headers=_h(org.api_key))
    assert d.status_code == 200 and d.json()["revoked_at"] is not None
    assert _until_status(gateway.url + "/v1/models", created["key"], 401) == 401
    # Revoking again is idempotent and leaves one audit row.
    assert httpx.delete(f"{gateway.url}/v1/keys/{created['id']}", headers=_h(org.api_key)).status_code == 200
    made = [r for r in audit_rows(conn, org.organization_id, "api_key.created") if r[1] == created["id"]]
    gone = audit_rows(conn, org.organization_id, "api_key.revoked")
    assert len(made) == 1 and made[0][0] == org.user_id and made[0][3]["name"] == "ci"
    assert [(g[1], g[2]) for g in gone] == [(created["id"], "revoke")]


def test_bad_key_requests_are_400(gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult) -> None:
    for bad in (
        {"name": ""},
        {"expires_in_days": 0},
        {"expires_in_days": 1, "expires_at": "2099-01-01T00:00:00Z"},
        {"expires_at": "2001-01-01T00:00:00Z"},
        {"rpm_limit": 10},  # limits per key arrive with the limits slice; never silently ignored
        {"name": 5},
    ):
        r = httpx.post(gateway.url + "/v1/keys", headers=_h(org.api_key), json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(gateway.url + "/v1/keys", headers=_h(org.api_key), content=b"{not json")
    assert r.status_code == 400
    assert httpx.post(gateway.url + "/v1/keys", json={}).status_code == 401


def test_members_see_own_keys_admins_all_other_orgs_404(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn, db_url: str
) -> None:
    member_id, member_key = add_user(conn, org.organization_id, "m@acme.test", "member")
    with psycopg.connect(db_url, autocommit=True) as c:
        other = accounts.bootstrap(c, org="Globex", email="boss@globex.test", role="owner")
    mine = httpx.get(gateway.url + "/v1/keys", headers=_h(member_key)).json()["data"]
    assert {k["user_id"] for k in mine} == {member_id}
    everyone = httpx.get(gateway.url + "/v1/keys", headers=_h(org.api_key)).json()["data"]
    assert {k["user_id"] for k in everyone} == {member_id, org.user_id}
    owner_key_id = next(k["id"] for k in everyone if k["user_id"] == org.user_id)
    # A member cannot revoke a colleague's key, nor mint one for them.
    assert httpx.delete(f"{gateway.url}/v1/keys/{owner_key_id}", headers=_h(member_key)).status_code == 404
    r = httpx.post(gateway.url + "/v1/keys", headers=_h(member_key), json={"user_id": org.user_id})
    assert r.status_code == 403
    # Another organization's owner gets 404 for our ids, and our key is untouched.
    assert httpx.delete(f"{gateway.url}/v1/keys/{owner_key_id}", headers=_h(other.api_key)).status_code == 404
    r = httpx.post(gateway.url + "/v1/keys", headers=_h(other.api_key), json={"user_id": member_id})
    assert r.status_code == 404
    assert conn.execute("SELECT revoked_at FROM gateway_api_keys WHERE id = %s", (owner_key_id,)).fetchone() == (None,)
    # An owner mints a key for a member; it resolves to the member.
    r = httpx.post(gateway.url + "/v1/keys", headers=_h(org.api_key), json={"user_id": member_id, "name": "for-m"})
    assert r.status_code == 201 and r.json()["user_id"] == member_id
    assert httpx.get(gateway.url + "/v1/keys", headers=_h(r.json()["key"])).json()["data"][0]["user_id"] == member_id


def test_member_management_roles_audit_and_tenancy(
    gateway: GatewayServer, upstream: MockUpstream, org: BootstrapResult, conn: Conn, db_url: str
) -> None:
    _, admin_key = add_user(conn, org.organization_id, "admin@acme.test", "admin")
    _, member_key = add_user(conn, org.organization_id, "m@acme.test", "member")
    with psycopg.connect(db_url, autocommit=True) as c:
        other = accounts.bootstrap(c, org="Globex", email="boss@globex.test", role="owner")
    url = gateway.url + "/v1/members"
    assert httpx.get(url, headers=_h(member_key)).status_code == 403
    listed = httpx.get(url, headers=_h(admin_key)).json()["data"]
    assert {(m["email"], m["role"]) for m in listed} == {
        ("owner@acme.test", "owner"),
        ("admin@acme.test", "admin"),
        ("m@acme.test", "member"),
    }
    # Invite by e-mail; the new user can then be given a key and is a finance member.
    r = httpx.post(url, headers=_h(admin_key), json={"email": "CFO@Acme.test", "role": "finance"})
    assert r.status_code == 201, r.text
    cfo = r.json()
    assert cfo["email"] == "cfo@acme.test" and cfo["role"] == "finance"
    assert httpx.post(url, headers=_h(admin_key), json={"email": "cfo@acme.test"}).status_code == 409
    assert httpx.post(url, headers=_h(admin_key), json={"email": "boss@globex.test"}).status_code == 409
    assert httpx.post(url, headers=_h(admin_key), json={"email": "x@acme.test", "role": "owner"}).status_code == 403
    assert httpx.post(url, headers=_h(admin_key), json={"email": "nope", "role": "member"}).status_code == 400
    assert httpx.post(url, headers=_h(admin_key), json={"email": "y@acme.test", "role": "king"}).status_code == 400
    # Change a role; admins cannot touch the owner; the last owner stays.
    r = httpx.patch(f"{url}/{cfo['user_id']}", headers=_h(admin_key), json={"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert httpx.patch(f"{url}/{org.user_id}", headers=_h(admin_key), json={"role": "member"}).status_code == 403
    r = httpx.patch(f"{url}/{org.user_id}", headers=_h(org.api_key), json={"role": "member"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_owner"
    # Another organization's ids are 404 for reading, changing and removing.
    assert httpx.patch(f"{url}/{cfo['user_id']}", headers=_h(other.api_key), json={"role": "member"}).status_code == 404
    assert httpx.delete(f"{url}/{cfo['user_id']}", headers=_h(other.api_key)).status_code == 404
    # Removing a member revokes their keys at once.
    key = httpx.post(gateway.url + "/v1/keys", headers=_h(admin_key), json={"user_id": cfo["user_id"]}).json()["key"]
    assert httpx.get(gateway.url + "/v1/keys", headers=_h(key)).status_code == 200
    d = httpx.delete(f"{url}/{cfo['user_id']}", headers=_h(admin_key))
    assert d.status_code == 200 and d.json()["status"] == "removed"
    assert _until_status(gateway.url + "/v1/keys", key, 401) == 401
    assert "cfo@acme.test" not in {m["email"] for m in httpx.get(url, headers=_h(admin_key)).json()["data"]}
    # Re-inviting brings the same user back.
    again = httpx.post(url, headers=_h(admin_key), json={"email": "cfo@acme.test", "role": "member"}).json()
    assert again["user_id"] == cfo["user_id"] and again["role"] == "member"
    kinds = [
        r[0]
        for r in conn.execute(
            "SELECT event_type FROM audit_events WHERE organization_id = %s AND resource_type = 'user' "
            "ORDER BY created_at",
            (org.organization_id,),
        ).fetchall()
    ]
    assert kinds == ["member.added", "member.role_changed", "member.removed", "member.added"]
    assert audit_rows(conn, other.organization_id, "member.role_changed") == []
