"""A saved workflow runs through the real engine: manual trigger → execution → note."""

from __future__ import annotations

import asyncio

from app.core.sql import fetch
from tests.conftest import TenantCtx
from tests.workflows.conftest import create_workflow, make_client

API = "/api/v1/workflows"


async def wait_for_execution(workflow_id: str, *, attempts: int = 300) -> dict:
    for _ in range(attempts):
        rows = await fetch(
            "SELECT status, error_message, workflow_version FROM workflow_executions "
            "WHERE workflow = $1",
            workflow_id,
        )
        if rows and rows[0]["status"] in ("COMPLETED", "FAILED"):
            return dict(rows[0])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no finished execution for workflow {workflow_id}")


async def test_manual_trigger_runs_the_rendered_steps(tenant: TenantCtx):
    wf = await create_workflow(
        tenant,
        trigger_type="MANUAL",
        is_active=True,
        conditions={"field": "event.payload.input.reason", "operator": "matches", "value": "^dem"},
        actions=[
            {
                "type": "ADD_NOTE",
                "config": {"body": "{{ client.name }}: {{ event.payload.input.reason }}"},
            },
            {"type": "ADD_TAG", "config": {"tag": "run-v{{ workflow.version }}"}},
        ],
    )
    await tenant.http.patch(f"{API}/{wf['id']}", json={"description": "no version change"})
    client = await make_client(tenant, name="Ada")
    response = await tenant.http.post(
        f"{API}/{wf['id']}/trigger", json={"client_id": client["id"], "input": {"reason": "demo"}}
    )
    assert response.status_code == 202, response.text

    execution = await wait_for_execution(wf["id"])
    assert execution["status"] == "COMPLETED", execution["error_message"]
    assert execution["workflow_version"] == 1
    notes = await fetch("SELECT body FROM notes WHERE client = $1", client["id"])
    assert [n["body"] for n in notes] == ["Ada: demo"]
    tags = await fetch("SELECT tags FROM clients WHERE id = $1", client["id"])
    assert "run-v1" in tags[0]["tags"]
