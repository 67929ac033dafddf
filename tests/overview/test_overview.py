"""GET /api/v1/overview, /workflows/activity and /clients/{id}/timeline: the console's reads."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

import httpx

from tests.conftest import TenantCtx
from tests.emails.conftest import make_email
from tests.engine.helpers import (
    NOTE,
    create_client,
    create_workflow,
    on_client_created,
    wait_executions,
)
from tests.helpers import assert_problem

BROKEN = [{"type": "ADD_NOTE", "config": {"body": "{{ client.custom_fields.nope }}"}}]


async def test_overview_and_activity(
    tenant: TenantCtx, member: httpx.AsyncClient, other: TenantCtx
) -> None:
    ok = await create_workflow(tenant, name="ok", trigger_type="CLIENT_CREATED", actions=NOTE)
    broken = await create_workflow(
        tenant, name="broken", trigger_type="CLIENT_CREATED", actions=BROKEN
    )
    for _ in range(2):
        await create_client(tenant)
    await wait_executions(tenant, count=4)
    await make_email(tenant)

    response = await member.get("/api/v1/overview")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["executions_by_status"]["COMPLETED"] == 2
    assert body["executions_by_status"]["FAILED"] == 2
    assert body["executions_by_status"]["CANCELLED"] == 0
    assert body["failing_workflows"] == [
        {"workflow_id": broken["id"], "name": "broken", "failed": 2, "total": 2}
    ]
    assert body["drafts_waiting"] == 1
    assert datetime.fromisoformat(body["oldest_draft_at"])
    assert body["pending_executions"] == 0
    assert body["queue"]["depth"] is None or body["queue"]["depth"] >= 0

    elsewhere = (await other.http.get("/api/v1/overview")).json()
    assert set(elsewhere["executions_by_status"].values()) == {0}
    assert elsewhere["failing_workflows"] == []
    assert elsewhere["drafts_waiting"] == 0

    activity = await member.get("/api/v1/workflows/activity")
    assert activity.status_code == 200, activity.text
    counts = {i["workflow_id"]: (i["completed"], i["failed"]) for i in activity.json()["items"]}
    assert counts == {ok["id"]: (2, 0), broken["id"]: (0, 2)}
    assert (await other.http.get("/api/v1/workflows/activity")).json()["items"] == []


async def test_client_timeline(tenant: TenantCtx, other: TenantCtx) -> None:
    await on_client_created(tenant, actions=NOTE)
    client = await create_client(tenant, name="Tia")
    await wait_executions(tenant, client=client["id"])
    task = await tenant.http.post(
        "/api/v1/tasks", json={"title": "Call Tia", "client_id": client["id"]}
    )
    assert task.status_code == 201, task.text
    upload = await tenant.http.post(
        f"/api/v1/clients/{client['id']}/documents",
        files={"file": ("a.txt", b"hello", "text/plain")},
    )
    assert upload.status_code == 201, upload.text
    await make_email(tenant, client_id=client["id"])

    response = await tenant.http.get(f"/api/v1/clients/{client['id']}/timeline")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    kinds = [i["kind"] for i in items]
    assert set(kinds) == {"event", "execution", "note", "task", "document", "email"}
    assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)
    for item in items:
        assert item[item["kind"]]["id"]  # exactly the named field carries the row
    note = next(i for i in items if i["kind"] == "note")
    assert note["note"]["body"] == "hello Tia"
    events = [i for i in items if i["kind"] == "event"]
    assert {e["event"]["type"] for e in events} >= {"CLIENT_CREATED", "DOCUMENT_UPLOADED"}

    one = await tenant.http.get(f"/api/v1/clients/{client['id']}/timeline", params={"each": 1})
    assert len([i for i in one.json()["items"] if i["kind"] == "event"]) == 1
    assert_problem(await other.http.get(f"/api/v1/clients/{client['id']}/timeline"), 404)
    assert_problem(await tenant.http.get(f"/api/v1/clients/{uuid4()}/timeline"), 404)
    bad = assert_problem(await tenant.http.get("/api/v1/clients/nope/timeline"), 422)
    assert bad["errors"][0]["path"] == "path.client_id"
    zero = await tenant.http.get(f"/api/v1/clients/{client['id']}/timeline", params={"each": 0})
    assert assert_problem(zero, 422)["errors"][0]["path"] == "query.each"
