"""Another tenant's rows answer 404 in paths for every resource type and verb; 422 in bodies."""

from __future__ import annotations

from app.core.sql import fetchrow
from tests.conftest import TenantCtx, client_for
from tests.helpers import all_pages, assert_problem, make_client


async def test_every_resource_of_another_tenant_is_404(
    tenant: TenantCtx, other: TenantCtx, base_url: str
) -> None:
    theirs = await make_client(other.http, name="Theirs", tags=["t"])
    cid = theirs["id"]
    note = (await other.http.post("/api/v1/notes", json={"client_id": cid, "body": "x"})).json()
    task = (await other.http.post("/api/v1/tasks", json={"title": "x"})).json()
    doc = (
        await other.http.post(f"/api/v1/clients/{cid}/documents", files={"file": ("a", b"a")})
    ).json()
    user = (await other.http.post("/api/v1/users", json={"email": "o@o.test"})).json()
    key = (await other.http.post("/api/v1/api-keys", json={"name": "o"})).json()

    attempts: list[tuple[str, str, dict[str, object] | None]] = [
        ("GET", f"/api/v1/clients/{cid}", None),
        ("PATCH", f"/api/v1/clients/{cid}", {"status": "CHURNED"}),
        ("DELETE", f"/api/v1/clients/{cid}", None),
        ("POST", f"/api/v1/clients/{cid}/tags", {"tag": "mine"}),
        ("DELETE", f"/api/v1/clients/{cid}/tags/t", None),
        ("GET", f"/api/v1/notes/{note['id']}", None),
        ("PATCH", f"/api/v1/notes/{note['id']}", {"body": "y"}),
        ("DELETE", f"/api/v1/notes/{note['id']}", None),
        ("GET", f"/api/v1/tasks/{task['id']}", None),
        ("PATCH", f"/api/v1/tasks/{task['id']}", {"status": "DONE"}),
        ("DELETE", f"/api/v1/tasks/{task['id']}", None),
        ("GET", f"/api/v1/documents/{doc['id']}", None),
        ("GET", f"/api/v1/documents/{doc['id']}/content", None),
        ("DELETE", f"/api/v1/documents/{doc['id']}", None),
        ("GET", f"/api/v1/users/{user['id']}", None),
        ("PATCH", f"/api/v1/users/{user['id']}", {"name": "y"}),
        ("DELETE", f"/api/v1/users/{user['id']}", None),
        ("GET", f"/api/v1/api-keys/{key['id']}", None),
        ("POST", f"/api/v1/api-keys/{key['id']}/revoke", None),
    ]
    for method, url, body in attempts:
        response = await tenant.http.request(method, url, json=body)
        assert_problem(response, 404)

    upload = await tenant.http.post(f"/api/v1/clients/{cid}/documents", files={"file": ("b", b"b")})
    assert_problem(upload, 404)

    # Nothing of theirs changed, and nothing of theirs shows in our listings.
    assert (await other.http.get(f"/api/v1/clients/{cid}")).json() == theirs
    assert (await other.http.get(f"/api/v1/notes/{note['id']}")).json()["body"] == "x"
    assert (await other.http.get(f"/api/v1/tasks/{task['id']}")).json()["status"] == "OPEN"
    row = await fetchrow("SELECT revoked_at FROM api_keys WHERE id = $1", key["id"])
    assert row is not None
    assert row["revoked_at"] is None
    async with client_for(base_url, key["key"]) as http:
        assert (await http.get("/api/v1/clients")).status_code == 200
    for url in (
        "/api/v1/clients",
        "/api/v1/notes",
        "/api/v1/tasks",
        "/api/v1/documents",
        "/api/v1/events",
        "/api/v1/audit-logs",
    ):
        assert await all_pages(tenant.http, url) == [] or url == "/api/v1/audit-logs", url
    ours = await all_pages(tenant.http, "/api/v1/audit-logs")
    assert all(entry["user_id"] == str(tenant.admin_id) for entry in ours)
    users = await all_pages(tenant.http, "/api/v1/users")
    assert [u["id"] for u in users] == [str(tenant.admin_id)]
    keys = await all_pages(tenant.http, "/api/v1/api-keys")
    assert key["id"] not in {k["id"] for k in keys}
    listed = await all_pages(tenant.http, "/api/v1/notes", client=cid)
    assert listed == []


async def test_references_to_another_tenant_in_bodies_are_422(
    tenant: TenantCtx, other: TenantCtx
) -> None:
    theirs = await make_client(other.http)
    event = await tenant.http.post(
        "/api/v1/events", json={"type": "ping", "client_id": theirs["id"]}
    )
    assert assert_problem(event, 422)["errors"][0]["path"] == "$.client_id"
    note = await tenant.http.post("/api/v1/notes", json={"client_id": theirs["id"], "body": "x"})
    assert_problem(note, 422)
