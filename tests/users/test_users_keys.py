"""Users and API keys: admin-only management, keys shown once, hashed, revocable."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path

import httpx

from app.core.sql import fetch, fetchrow
from tests.conftest import TenantCtx, client_for
from tests.helpers import all_pages, assert_problem


async def test_users_crud(tenant: TenantCtx) -> None:
    created = await tenant.http.post(
        "/api/v1/users", json={"email": "Bob@Example.TEST", "name": "Bob"}
    )
    assert created.status_code == 201, created.text
    bob = created.json()
    assert (bob["email"], bob["role"], bob["is_active"]) == ("bob@example.test", "member", True)

    dup = await tenant.http.post("/api/v1/users", json={"email": "bob@example.test"})
    assert_problem(dup, 409)

    patched = await tenant.http.patch(
        f"/api/v1/users/{bob['id']}", json={"role": "admin", "name": "Robert"}
    )
    assert patched.json()["role"] == "admin"
    assert patched.json()["name"] == "Robert"
    admins = await all_pages(tenant.http, "/api/v1/users", role="admin")
    assert {u["id"] for u in admins} == {bob["id"], str(tenant.admin_id)}
    assert len(await all_pages(tenant.http, "/api/v1/users", limit=1)) == 2

    assert (await tenant.http.delete(f"/api/v1/users/{bob['id']}")).status_code == 204
    assert_problem(await tenant.http.get(f"/api/v1/users/{bob['id']}"), 404)


async def test_admin_cannot_lock_themselves_out(tenant: TenantCtx) -> None:
    me = f"/api/v1/users/{tenant.admin_id}"
    assert_problem(await tenant.http.patch(me, json={"role": "member"}), 409)
    assert_problem(await tenant.http.patch(me, json={"is_active": False}), 409)
    assert_problem(await tenant.http.delete(me), 409)
    assert (await tenant.http.get(me)).json()["role"] == "admin"


async def test_key_is_shown_once_stored_hashed_and_revocable(
    tenant: TenantCtx, base_url: str
) -> None:
    created = await tenant.http.post("/api/v1/api-keys", json={"name": "ci"})
    assert created.status_code == 201, created.text
    key = created.json()
    plaintext = key["key"]
    assert plaintext.startswith(key["prefix"])
    assert key["user_id"] == str(tenant.admin_id)

    row = await fetchrow("SELECT * FROM api_keys WHERE id = $1", key["id"])
    assert row is not None
    assert row["key_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in [str(v) for v in row.values()]

    listed = await all_pages(tenant.http, "/api/v1/api-keys")
    mine = next(k for k in listed if k["id"] == key["id"])
    assert "key" not in mine
    assert "key_hash" not in mine
    assert mine["prefix"] == key["prefix"]
    assert mine["last_used_at"] is None
    assert "key" not in (await tenant.http.get(f"/api/v1/api-keys/{key['id']}")).json()

    async with client_for(base_url, plaintext) as http:
        assert (await http.get("/api/v1/clients")).status_code == 200
        used = (await tenant.http.get(f"/api/v1/api-keys/{key['id']}")).json()
        assert used["last_used_at"] is not None

        revoked = await tenant.http.post(f"/api/v1/api-keys/{key['id']}/revoke")
        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"] is not None
        assert_problem(await http.get("/api/v1/clients"), 401)

    live = await all_pages(tenant.http, "/api/v1/api-keys", revoked="false")
    assert key["id"] not in {k["id"] for k in live}
    gone = await all_pages(tenant.http, "/api/v1/api-keys", revoked="true")
    assert {k["id"] for k in gone} == {key["id"]}


async def test_key_for_another_user_and_unknown_user(tenant: TenantCtx, other: TenantCtx) -> None:
    user = (await tenant.http.post("/api/v1/users", json={"email": "k@x.test"})).json()
    key = await tenant.http.post("/api/v1/api-keys", json={"user_id": user["id"]})
    assert key.json()["user_id"] == user["id"]
    by_user = await all_pages(tenant.http, "/api/v1/api-keys", user=user["id"])
    assert [k["id"] for k in by_user] == [key.json()["id"]]
    foreign = await tenant.http.post("/api/v1/api-keys", json={"user_id": str(other.admin_id)})
    assert assert_problem(foreign, 422)["errors"][0]["path"] == "$.user_id"


async def test_deactivated_user_key_is_401(tenant: TenantCtx, base_url: str) -> None:
    user = (await tenant.http.post("/api/v1/users", json={"email": "gone@x.test"})).json()
    key = (await tenant.http.post("/api/v1/api-keys", json={"user_id": user["id"]})).json()
    await tenant.http.patch(f"/api/v1/users/{user['id']}", json={"is_active": False})
    async with client_for(base_url, key["key"]) as http:
        assert_problem(await http.get("/api/v1/clients"), 401)


async def test_missing_or_bad_key_is_401(anon: httpx.AsyncClient) -> None:
    assert_problem(await anon.get("/api/v1/clients"), 401)
    bad = await anon.get("/api/v1/clients", headers={"Authorization": "Bearer crm_nope"})
    assert_problem(bad, 401)
    basic = await anon.get("/api/v1/clients", headers={"Authorization": "Basic eDp5"})
    assert_problem(basic, 401)


async def test_member_works_with_crm_data_but_not_admin_resources(
    tenant: TenantCtx, member: httpx.AsyncClient
) -> None:
    client = await member.post("/api/v1/clients", json={"name": "By member"})
    assert client.status_code == 201
    cid = client.json()["id"]
    assert (await member.patch(f"/api/v1/clients/{cid}", json={"status": "ACTIVE"})).is_success
    note = await member.post("/api/v1/notes", json={"client_id": cid, "body": "n"})
    assert note.status_code == 201
    task = await member.post("/api/v1/tasks", json={"title": "t", "client_id": cid})
    assert task.status_code == 201
    doc = await member.post(f"/api/v1/clients/{cid}/documents", files={"file": ("a.txt", b"a")})
    assert doc.status_code == 201
    event = await member.post("/api/v1/events", json={"type": "member.did"})
    assert event.status_code == 201
    assert (await member.get("/api/v1/events")).status_code == 200
    for url in ("/api/v1/clients", "/api/v1/notes", "/api/v1/tasks", "/api/v1/documents"):
        assert (await member.get(url)).status_code == 200, url

    for method, url, body in (
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"email": "x@y.test"}),
        ("GET", f"/api/v1/users/{tenant.admin_id}", None),
        ("PATCH", f"/api/v1/users/{tenant.admin_id}", {"name": "pwned"}),
        ("DELETE", f"/api/v1/users/{tenant.admin_id}", None),
        ("GET", "/api/v1/api-keys", None),
        ("POST", "/api/v1/api-keys", {"name": "x"}),
        ("GET", "/api/v1/audit-logs", None),
    ):
        response = await member.request(method, url, json=body)
        assert_problem(response, 403)
    users = await fetch("SELECT email FROM users WHERE tenant = $1", tenant.tenant_id)
    assert "x@y.test" not in {u["email"] for u in users}


async def _cli(*args: str, database_url: str) -> tuple[int, str, str]:
    """Run `crmflow` as its own process (without blocking the loop serving the app)."""
    # The installed console script, as a person runs it (not `python -m`).
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "crmflow"),
        *args,
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_create_tenant_prints_a_working_key(database_url: str, base_url: str) -> None:
    suffix = os.urandom(3).hex()
    code, out, err = await _cli(
        "create-tenant",
        "--name",
        f"CLI {suffix}",
        "--admin-email",
        f"cli@{suffix}.test",
        database_url=database_url,
    )
    assert code == 0, err
    lines = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    async with client_for(base_url, lines["api_key"]) as http:
        me = await http.get(f"/api/v1/users/{lines['admin_user_id']}")
        assert me.status_code == 200
        assert me.json()["email"] == f"cli@{suffix}.test"
        assert me.json()["role"] == "admin"
        assert (await http.post("/api/v1/clients", json={"name": "first"})).status_code == 201

    code, _, err = await _cli(
        "create-tenant",
        "--name",
        f"CLI {suffix}",
        "--admin-email",
        "x@y.test",
        database_url=database_url,
    )
    assert code == 1
    assert "already exists" in err


async def test_user_list_filters_by_active(tenant: TenantCtx) -> None:
    user = (await tenant.http.post("/api/v1/users", json={"email": "off@x.test"})).json()
    await tenant.http.patch(f"/api/v1/users/{user['id']}", json={"is_active": False})
    inactive = await all_pages(tenant.http, "/api/v1/users", is_active="false")
    assert [u["id"] for u in inactive] == [user["id"]]
    active = await all_pages(tenant.http, "/api/v1/users", is_active="true")
    assert [u["id"] for u in active] == [str(tenant.admin_id)]
