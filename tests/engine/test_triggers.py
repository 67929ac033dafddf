"""Each trigger type starts its workflows; events that do not match start nothing."""

from __future__ import annotations

from typing import Any

from tests.conftest import TenantCtx
from tests.engine.conftest import Backend
from tests.engine.helpers import (
    create_client,
    create_workflow,
    list_executions,
    set_status,
    unique,
    wait_dispatched,
    wait_executions,
)

NOTE = [{"type": "ADD_NOTE", "config": {"body": "{{event.type}} for {{client.name}}"}}]
TAG = [{"type": "ADD_TAG", "config": {"tag": "seen"}}]


async def _event_ids_of(tenant: TenantCtx, **params: Any) -> list[str]:
    response = await tenant.http.get("/api/v1/events", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["items"]]


async def test_client_created_fires_only_for_matching_status(
    backend: Backend, tenant: TenantCtx
) -> None:
    wf = await create_workflow(
        tenant, trigger_type="CLIENT_CREATED", trigger_config={"status": "LEAD"}, actions=NOTE
    )
    lead = await create_client(tenant, status="LEAD")
    active = await create_client(tenant, status="ACTIVE")

    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    await wait_dispatched(await _event_ids_of(tenant))
    assert execution["client_id"] == lead["id"]
    assert execution["status"] == "COMPLETED"
    assert await list_executions(tenant, client_id=active["id"]) == []


async def test_status_change_fires_on_from_to(backend: Backend, tenant: TenantCtx) -> None:
    wf = await create_workflow(
        tenant,
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config={"from": "LEAD", "to": "ACTIVE"},
        actions=TAG,
    )
    yes = await create_client(tenant)
    no = await create_client(tenant)
    await set_status(tenant, yes["id"], "ACTIVE")
    await set_status(tenant, no["id"], "INACTIVE")

    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    await wait_dispatched(await _event_ids_of(tenant))
    assert execution["client_id"] == yes["id"]
    assert execution["trigger_data"]["payload"] == {"from": "LEAD", "to": "ACTIVE"}
    assert await list_executions(tenant, client_id=no["id"]) == []


async def test_document_upload_fires_on_content_type(backend: Backend, tenant: TenantCtx) -> None:
    wf = await create_workflow(
        tenant,
        trigger_type="DOCUMENT_UPLOADED",
        trigger_config={"content_type": "application/pdf"},
        actions=[{"type": "ADD_NOTE", "config": {"body": "got {{event.payload.filename}}"}}],
    )
    client = await create_client(tenant)
    for filename, content_type in (("a.pdf", "application/pdf"), ("b.txt", "text/plain")):
        response = await tenant.http.post(
            f"/api/v1/clients/{client['id']}/documents",
            files={"file": (filename, b"%PDF-1.4 hello", content_type)},
        )
        assert response.status_code == 201, response.text

    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    await wait_dispatched(await _event_ids_of(tenant))
    assert execution["trigger_data"]["payload"]["filename"] == "a.pdf"
    assert len(await list_executions(tenant, workflow_id=wf["id"])) == 1
    detail = (await tenant.http.get(f"/api/v1/executions/{execution['id']}")).json()
    assert detail["logs"][0]["output_data"]["note_id"]


async def test_custom_event_fires_on_its_name(backend: Backend, tenant: TenantCtx) -> None:
    name = unique("invoice.paid")
    wf = await create_workflow(
        tenant, trigger_type="CUSTOM", trigger_config={"event": name}, actions=NOTE
    )
    client = await create_client(tenant)
    for event_type in (name, unique("invoice.void")):
        response = await tenant.http.post(
            "/api/v1/events",
            json={"type": event_type, "payload": {"amount": 10}, "client_id": client["id"]},
        )
        assert response.status_code in (201, 202), response.text

    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    await wait_dispatched(await _event_ids_of(tenant))
    assert execution["trigger_data"]["type"] == name
    assert len(await list_executions(tenant, client_id=client["id"])) == 1


async def test_manual_trigger_runs_only_that_workflow(backend: Backend, tenant: TenantCtx) -> None:
    target = await create_workflow(tenant, trigger_type="MANUAL", actions=NOTE)
    other = await create_workflow(tenant, trigger_type="MANUAL", actions=NOTE)
    client = await create_client(tenant)
    response = await tenant.http.post(
        f"/api/v1/workflows/{target['id']}/trigger",
        json={"client_id": client["id"], "input": {"reason": "test"}},
    )
    assert response.status_code == 202, response.text

    [execution] = await wait_executions(tenant, workflow_id=target["id"])
    await wait_dispatched([response.json()["event_id"]])
    assert execution["status"] == "COMPLETED"
    assert execution["trigger_data"]["payload"]["input"] == {"reason": "test"}
    assert await list_executions(tenant, workflow_id=other["id"]) == []
