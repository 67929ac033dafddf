"""Notes and tasks: CRUD, filters, pages, references to other rows."""

from __future__ import annotations

from tests.conftest import TenantCtx
from tests.helpers import all_pages, assert_problem, make_client


async def test_notes_crud_and_client_filter(tenant: TenantCtx) -> None:
    a = await make_client(tenant.http, name="A")
    b = await make_client(tenant.http, name="B")
    created = await tenant.http.post("/api/v1/notes", json={"client_id": a["id"], "body": "hi"})
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["author_id"] == str(tenant.admin_id)
    for body in ("two", "three"):
        r = await tenant.http.post("/api/v1/notes", json={"client_id": a["id"], "body": body})
        assert r.status_code == 201
    await tenant.http.post("/api/v1/notes", json={"client_id": b["id"], "body": "other"})

    on_a = await all_pages(tenant.http, "/api/v1/notes", client=a["id"], limit=2)
    assert [n["body"] for n in on_a] == ["three", "two", "hi"]
    assert len(await all_pages(tenant.http, "/api/v1/notes")) == 4

    edited = await tenant.http.patch(f"/api/v1/notes/{note['id']}", json={"body": "hello"})
    assert edited.status_code == 200
    assert edited.json()["body"] == "hello"
    assert (await tenant.http.get(f"/api/v1/notes/{note['id']}")).json()["body"] == "hello"
    assert (await tenant.http.delete(f"/api/v1/notes/{note['id']}")).status_code == 204
    assert_problem(await tenant.http.get(f"/api/v1/notes/{note['id']}"), 404)


async def test_note_needs_a_known_client_and_a_body(tenant: TenantCtx) -> None:
    missing = await tenant.http.post(
        "/api/v1/notes",
        json={"client_id": "00000000-0000-4000-8000-000000000000", "body": "x"},
    )
    assert assert_problem(missing, 422)["errors"][0]["path"] == "$.client_id"
    client = await make_client(tenant.http)
    blank = await tenant.http.post("/api/v1/notes", json={"client_id": client["id"], "body": " "})
    assert assert_problem(blank, 422)["errors"][0]["path"] == "$.body"


async def test_tasks_crud(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http)
    created = await tenant.http.post(
        "/api/v1/tasks",
        json={
            "title": "Call back",
            "client_id": client["id"],
            "priority": "HIGH",
            "due_at": "2030-01-02T03:04:05+00:00",
            "assignee_id": str(tenant.admin_id),
        },
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert (task["status"], task["priority"]) == ("OPEN", "HIGH")
    assert task["due_at"].startswith("2030-01-02T03:04:05")

    patched = await tenant.http.patch(
        f"/api/v1/tasks/{task['id']}", json={"status": "DONE", "assignee_id": None}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["status"], patched.json()["assignee_id"]) == ("DONE", None)
    assert (await tenant.http.get(f"/api/v1/tasks/{task['id']}")).json()["status"] == "DONE"
    assert (await tenant.http.delete(f"/api/v1/tasks/{task['id']}")).status_code == 204
    assert_problem(await tenant.http.get(f"/api/v1/tasks/{task['id']}"), 404)


async def test_task_filters(tenant: TenantCtx) -> None:
    c1 = await make_client(tenant.http, name="C1")
    c2 = await make_client(tenant.http, name="C2")
    me = str(tenant.admin_id)

    async def task(**fields: object) -> str:
        r = await tenant.http.post("/api/v1/tasks", json={"title": "t", **fields})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    t1 = await task(client_id=c1["id"], priority="LOW", assignee_id=me)
    t2 = await task(client_id=c1["id"], priority="URGENT")
    t3 = await task(client_id=c2["id"], priority="URGENT", assignee_id=me)
    t4 = await task()
    await tenant.http.patch(f"/api/v1/tasks/{t2}", json={"status": "IN_PROGRESS"})

    async def ids(**params: object) -> set[str]:
        return {i["id"] for i in await all_pages(tenant.http, "/api/v1/tasks", **params)}

    assert await ids() == {t1, t2, t3, t4}
    assert await ids(client=c1["id"]) == {t1, t2}
    assert await ids(priority="URGENT") == {t2, t3}
    assert await ids(assignee=me) == {t1, t3}
    assert await ids(status="IN_PROGRESS") == {t2}
    assert await ids(status="OPEN", priority="URGENT") == {t3}
    ordered = await all_pages(tenant.http, "/api/v1/tasks", sort="created_at", limit=1)
    assert [t["id"] for t in ordered] == [t1, t2, t3, t4]


async def test_task_references_are_checked(tenant: TenantCtx, other: TenantCtx) -> None:
    foreign_client = await make_client(other.http)
    response = await tenant.http.post(
        "/api/v1/tasks",
        json={"title": "t", "client_id": foreign_client["id"], "assignee_id": str(other.admin_id)},
    )
    paths = {e["path"] for e in assert_problem(response, 422)["errors"]}
    assert paths == {"$.client_id", "$.assignee_id"}
    bad_priority = await tenant.http.post("/api/v1/tasks", json={"title": "t", "priority": "MEH"})
    assert assert_problem(bad_priority, 422)["errors"][0]["path"] == "$.priority"
    assert await all_pages(tenant.http, "/api/v1/tasks") == []
