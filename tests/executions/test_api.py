"""/api/v1/executions: list with filters and cursor pages, detail with logs, cancel, retry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from tests.conftest import TenantCtx, client_for
from tests.engine.helpers import (
    NOTE,
    add_user,
    count,
    create_client,
    get_execution,
    note_task_note,
    on_client_created,
    wait_executions,
    wait_for,
    wait_status,
)


async def test_list_filters_and_pages(tenant: TenantCtx) -> None:
    wf = await on_client_created(tenant, actions=NOTE)
    other = await on_client_created(
        tenant,
        actions=[{"type": "ADD_NOTE", "config": {"body": "{{client.custom_fields.nope}}"}}],
    )
    clients = [await create_client(tenant) for _ in range(3)]
    await wait_executions(tenant, count=6)

    page = await tenant.http.get("/api/v1/executions", params={"workflow": wf["id"], "limit": 2})
    assert page.status_code == 200
    first = page.json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    rest = (
        await tenant.http.get(
            "/api/v1/executions",
            params={"workflow": wf["id"], "limit": 2, "cursor": first["next_cursor"]},
        )
    ).json()
    ids = [i["id"] for i in first["items"] + rest["items"]]
    assert len(set(ids)) == 3
    assert rest["next_cursor"] is None

    failed = (await tenant.http.get("/api/v1/executions", params={"status": "FAILED"})).json()
    assert {i["workflow_id"] for i in failed["items"]} == {other["id"]}
    by_client = (
        await tenant.http.get("/api/v1/executions", params={"client": clients[0]["id"]})
    ).json()
    assert {i["client_id"] for i in by_client["items"]} == {clients[0]["id"]}
    assert len(by_client["items"]) == 2
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = (await tenant.http.get("/api/v1/executions", params={"created_after": future})).json()
    assert later["items"] == []
    earlier = (
        await tenant.http.get("/api/v1/executions", params={"created_before": future})
    ).json()
    assert len(earlier["items"]) == 6

    bad = await tenant.http.get("/api/v1/executions", params={"status": "DONE"})
    assert bad.status_code in (400, 422)
    assert bad.headers["content-type"].startswith("application/problem+json")
    bad_cursor = await tenant.http.get("/api/v1/executions", params={"cursor": "garbage"})
    assert bad_cursor.status_code == 422


async def test_detail_has_definition_and_logs(tenant: TenantCtx) -> None:
    wf = await on_client_created(tenant, actions=NOTE)
    client = await create_client(tenant, name="Cleo")
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    detail = await get_execution(tenant, execution["id"])
    assert detail["status"] == "COMPLETED"
    assert detail["client_id"] == client["id"]
    assert detail["definition"]["actions"] == wf["actions"]
    [log] = detail["logs"]
    assert (log["action_type"], log["status"], log["attempt"]) == ("ADD_NOTE", "SUCCESS", 1)
    assert log["input_data"] == {"body": "hello {{client.name}}"}


async def test_other_tenants_executions_are_404(tenant: TenantCtx, base_url: str) -> None:

    from app.core.uow import unit_of_work
    from app.tenants.service import create_tenant

    wf = await on_client_created(tenant, actions=NOTE)
    await create_client(tenant)
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    async with unit_of_work():
        other = await create_tenant(name=f"Other {uuid4().hex[:6]}", admin_email="o@o.test")
    async with client_for(base_url, other.api_key) as http:
        for method, path in (
            ("GET", f"/api/v1/executions/{execution['id']}"),
            ("POST", f"/api/v1/executions/{execution['id']}/cancel"),
            ("POST", f"/api/v1/executions/{execution['id']}/retry"),
        ):
            response = await http.request(method, path)
            assert response.status_code == 404, (path, response.text)
        listing = (await http.get("/api/v1/executions")).json()
        assert listing["items"] == []
    missing = await tenant.http.get(f"/api/v1/executions/{uuid4()}")
    assert missing.status_code == 404


async def test_cancel_a_waiting_execution(tenant: TenantCtx) -> None:
    wf = await on_client_created(
        tenant,
        actions=[
            {"type": "DELAY", "config": {"duration": {"seconds": 2}}},
            {"type": "ADD_NOTE", "config": {"body": "too late"}},
        ],
    )
    client = await create_client(tenant)
    [execution] = await wait_executions(tenant, workflow_id=wf["id"], terminal=False)
    await wait_status(tenant, execution["id"], "WAITING")
    response = await tenant.http.post(f"/api/v1/executions/{execution['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "CANCELLED"
    again = await tenant.http.post(f"/api/v1/executions/{execution['id']}/cancel")
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    # Past its resume time it still never runs the next step.
    await asyncio.sleep(3)
    assert (await get_execution(tenant, execution["id"]))["status"] == "CANCELLED"
    assert await count("SELECT count(*) FROM notes WHERE client = $1", UUID(client["id"])) == 0


async def test_cancel_a_running_execution_stops_before_its_next_step(tenant: TenantCtx) -> None:
    assignee = uuid4()
    wf = await note_task_note(tenant, assignee, attempts=10, backoff_s=0.5, last="never")
    client = await create_client(tenant)
    [execution] = await wait_executions(tenant, workflow_id=wf["id"], terminal=False)
    await wait_for(
        lambda: get_execution(tenant, execution["id"]),
        until=lambda e: e["status"] == "RUNNING" and e["current_step"] == 1,
        what="a running execution",
    )
    response = await tenant.http.post(f"/api/v1/executions/{execution['id']}/cancel")
    assert response.status_code == 200
    await add_user(tenant, assignee)  # the step could now succeed, but must not run
    await wait_for(
        lambda: get_execution(tenant, execution["id"]),
        until=lambda e: len(e["logs"]) >= 1,
        what="logs",
    )
    for _ in range(20):  # a couple of retry periods
        detail = await get_execution(tenant, execution["id"])
        assert detail["status"] == "CANCELLED"
        await asyncio.sleep(0.1)
    cid = UUID(client["id"])
    assert await count("SELECT count(*) FROM tasks WHERE client = $1", cid) == 0
    assert await count("SELECT count(*) FROM notes WHERE client = $1", cid) == 1


async def test_retry_from_the_failed_step(tenant: TenantCtx) -> None:
    assignee = uuid4()
    wf = await note_task_note(tenant, assignee, attempts=1, backoff_s=0)
    client = await create_client(tenant)
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert (execution["status"], execution["current_step"]) == ("FAILED", 1)
    completed = await on_client_created(tenant, actions=NOTE)
    await create_client(tenant)
    [ok] = await wait_executions(tenant, workflow_id=completed["id"])
    conflict = await tenant.http.post(f"/api/v1/executions/{ok['id']}/retry")
    assert conflict.status_code == 409

    await add_user(tenant, assignee)
    response = await tenant.http.post(f"/api/v1/executions/{execution['id']}/retry")
    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("PENDING", "RUNNING", "COMPLETED")
    done = await wait_status(tenant, execution["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED"
    assert done["error_message"] is None
    assert [(log["step_index"], log["status"]) for log in done["logs"]] == [
        (0, "SUCCESS"),
        (1, "FAILED"),
        (1, "SUCCESS"),
        (2, "SUCCESS"),
    ]
    cid = UUID(client["id"])
    assert await count("SELECT count(*) FROM notes WHERE client = $1", cid) == 2
    assert await count("SELECT count(*) FROM tasks WHERE client = $1", cid) == 1
