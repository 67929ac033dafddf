"""Clients: CRUD, filters, sorting, cursor pages, tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import TenantCtx
from tests.helpers import all_pages, assert_problem, make_client


async def test_create_get_update_delete(tenant: TenantCtx) -> None:
    created = await make_client(
        tenant.http,
        name="Grace Hopper",
        email="grace@navy.test",
        company="Navy",
        tags=["vip", "vip", "east"],
        custom_fields={"tier": 1},
    )
    assert created["status"] == "LEAD"
    assert created["tags"] == ["vip", "east"]
    assert created["custom_fields"] == {"tier": 1}
    cid = created["id"]

    got = await tenant.http.get(f"/api/v1/clients/{cid}")
    assert got.status_code == 200
    assert got.json()["email"] == "grace@navy.test"

    patched = await tenant.http.patch(
        f"/api/v1/clients/{cid}", json={"phone": "+1 555", "email": None, "status": "ACTIVE"}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["phone"], body["email"], body["status"]) == ("+1 555", None, "ACTIVE")
    assert body["name"] == "Grace Hopper"

    deleted = await tenant.http.delete(f"/api/v1/clients/{cid}")
    assert deleted.status_code == 204
    assert_problem(await tenant.http.get(f"/api/v1/clients/{cid}"), 404)
    assert_problem(await tenant.http.delete(f"/api/v1/clients/{cid}"), 404)


async def test_owner_must_be_a_user_of_the_tenant(tenant: TenantCtx, other: TenantCtx) -> None:
    ok = await make_client(tenant.http, owner_id=str(tenant.admin_id))
    assert ok["owner_id"] == str(tenant.admin_id)
    bad = await tenant.http.post(
        "/api/v1/clients", json={"name": "X", "owner_id": str(other.admin_id)}
    )
    problem = assert_problem(bad, 422)
    assert problem["errors"][0]["path"] == "$.owner_id"


async def test_tags_add_and_remove(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http, tags=["a"])
    url = f"/api/v1/clients/{client['id']}/tags"
    added = await tenant.http.post(url, json={"tag": "b"})
    assert added.status_code == 201
    assert added.json()["tags"] == ["a", "b"]
    again = await tenant.http.post(url, json={"tag": "b"})
    assert again.json()["tags"] == ["a", "b"]
    removed = await tenant.http.delete(f"{url}/a")
    assert removed.status_code == 200
    assert removed.json()["tags"] == ["b"]
    # A tag no client can carry (a bare CR) is simply absent: the same no-op, not a 422.
    absent = await tenant.http.delete(f"{url}/%0D")
    assert absent.status_code == 200
    assert absent.json()["tags"] == ["b"]


async def test_filters(tenant: TenantCtx) -> None:
    me = str(tenant.admin_id)
    a = await make_client(tenant.http, name="Alpha Corp Lead", status="LEAD", tags=["x"])
    b = await make_client(
        tenant.http,
        name="Beta",
        status="ACTIVE",
        tags=["x", "y"],
        owner_id=me,
        email="boss@beta.test",
    )
    c = await make_client(tenant.http, name="Gamma", status="ACTIVE", company="Alpha Industries")

    async def ids(**params: object) -> set[str]:
        return {item["id"] for item in await all_pages(tenant.http, "/api/v1/clients", **params)}

    assert await ids(status="ACTIVE") == {b["id"], c["id"]}
    assert await ids(tag="x") == {a["id"], b["id"]}
    assert await ids(tag=["x", "y"]) == {b["id"]}
    assert await ids(owner=me) == {b["id"]}
    assert await ids(q="alpha") == {a["id"], c["id"]}
    assert await ids(q="BOSS@") == {b["id"]}
    assert await ids(q="100%") == set()
    assert await ids(status="ACTIVE", tag="x") == {b["id"]}

    later = (datetime.fromisoformat(c["created_at"]) + timedelta(seconds=1)).isoformat()
    assert await ids(created_after=b["created_at"]) == {b["id"], c["id"]}
    assert await ids(created_before=b["created_at"]) == {a["id"]}
    assert await ids(created_after=later) == set()
    earlier = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert await ids(created_after=earlier) == {a["id"], b["id"], c["id"]}


async def test_sorting_and_cursor_pages(tenant: TenantCtx) -> None:
    names = ["delta", "alpha", "echo", "charlie", "bravo"]
    made = [await make_client(tenant.http, name=n) for n in names]

    newest_first = await all_pages(tenant.http, "/api/v1/clients", limit=2)
    assert [c["id"] for c in newest_first] == [c["id"] for c in reversed(made)]

    oldest_first = await all_pages(tenant.http, "/api/v1/clients", limit=2, sort="created_at")
    assert [c["id"] for c in oldest_first] == [c["id"] for c in made]

    by_name = await all_pages(tenant.http, "/api/v1/clients", limit=2, sort="name")
    assert [c["name"] for c in by_name] == sorted(names)
    by_name_desc = await all_pages(tenant.http, "/api/v1/clients", limit=3, sort="-name")
    assert [c["name"] for c in by_name_desc] == sorted(names, reverse=True)

    first = (await tenant.http.get("/api/v1/clients", params={"limit": 2})).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    last = (await tenant.http.get("/api/v1/clients", params={"limit": 5})).json()
    assert last["next_cursor"] is None


async def test_bad_listing_parameters(tenant: TenantCtx) -> None:
    for params in (
        {"limit": 0},
        {"limit": 201},
        {"status": "NOPE"},
        {"sort": "email"},
        {"owner": "not-a-uuid"},
        {"cursor": "garbage!!"},
        {"created_after": "yesterday"},
    ):
        response = await tenant.http.get("/api/v1/clients", params=params)
        problem = assert_problem(response, 422)
        assert problem["errors"], params


async def test_cursor_of_another_sort_is_rejected(tenant: TenantCtx) -> None:
    for n in ("a", "b", "c"):
        await make_client(tenant.http, name=n)
    page = (await tenant.http.get("/api/v1/clients", params={"limit": 1, "sort": "name"})).json()
    response = await tenant.http.get(
        "/api/v1/clients", params={"limit": 1, "cursor": page["next_cursor"]}
    )
    assert_problem(response, 422)
