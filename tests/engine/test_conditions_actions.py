"""Conditions decide which workflows run; every action type leaves its effect in the database."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.core.sql import fetch, fetchrow
from tests.conftest import TenantCtx
from tests.engine.conftest import Backend
from tests.engine.helpers import (
    client_events,
    count,
    create_client,
    create_workflow,
    failing_first_step,
    get_execution,
    list_executions,
    on_client_created,
    set_status,
    wait_dispatched,
    wait_executions,
)

TAG = [{"type": "ADD_TAG", "config": {"tag": "matched"}}]

# (condition, expected to hold for the client below on LEAD -> ACTIVE)
CASES: list[tuple[dict[str, Any], bool]] = [
    ({"field": "client.tags", "operator": "contains", "value": "vip"}, True),
    ({"field": "client.tags", "operator": "not_contains", "value": "vip"}, False),
    ({"field": "client.email", "operator": "ends_with", "value": "@acme.test"}, True),
    ({"field": "client.name", "operator": "starts_with", "value": "Zed"}, False),
    ({"field": "event.payload.to", "operator": "eq", "value": "ACTIVE"}, True),
    ({"field": "event.payload.from", "operator": "ne", "value": "LEAD"}, False),
    ({"field": "client.custom_fields.score", "operator": "gte", "value": 80}, True),
    ({"field": "client.custom_fields.score", "operator": "lt", "value": 50}, False),
    ({"field": "client.company", "operator": "in", "value": ["Acme", "Initech"]}, True),
    ({"field": "client.company", "operator": "not_in", "value": ["Acme"]}, False),
    ({"field": "client.phone", "operator": "exists"}, False),
    ({"field": "client.phone", "operator": "not_exists"}, True),
    ({"field": "client.email", "operator": "matches", "value": "^ann@"}, True),
    (
        {
            "any": [
                {"field": "client.status", "operator": "eq", "value": "CHURNED"},
                {"all": [{"not": {"field": "client.tags", "operator": "contains", "value": "x"}}]},
            ]
        },
        True,
    ),
]


async def test_conditions_select_workflows(backend: Backend, tenant: TenantCtx) -> None:
    workflows = [
        (
            await create_workflow(
                tenant,
                trigger_type="CLIENT_STATUS_CHANGED",
                trigger_config={"to": "ACTIVE"},
                conditions=condition,
                actions=TAG,
            ),
            expected,
        )
        for condition, expected in CASES
    ]
    client = await create_client(
        tenant,
        name="Ann",
        email="ann@acme.test",
        company="Acme",
        tags=["vip"],
        custom_fields={"score": 90},
    )
    await set_status(tenant, client["id"], "ACTIVE")
    await wait_dispatched([e["id"] for e in await client_events(client["id"])])

    ran = {e["workflow_id"] for e in await list_executions(tenant, client_id=client["id"])}
    for workflow, expected in workflows:
        assert (workflow["id"] in ran) is expected, (workflow["conditions"], expected)


async def test_every_action_type_takes_effect(backend: Backend, tenant: TenantCtx) -> None:
    owner = (
        await tenant.http.post("/api/v1/users", json={"email": f"o-{tenant.tenant_id}@x.test"})
    ).json()
    wf = await on_client_created(
        tenant,
        actions=[
            {
                "type": "SEND_EMAIL",
                "config": {
                    "to": "{{client.email}}",
                    "subject": "Welcome {{client.name}}",
                    "body": "Hi {{client.name}} from {{workflow.name}}",
                },
            },
            {
                "type": "CREATE_TASK",
                "config": {
                    "title": "Call {{client.name}}",
                    "priority": "HIGH",
                    "due_in": {"days": 2},
                    "assignee": "owner",
                },
            },
            {
                "type": "UPDATE_CLIENT",
                "config": {
                    "company": "{{client.name}} Ltd",
                    "status": "ACTIVE",
                    "custom_fields": {"source": "{{event.type}}"},
                },
            },
            {"type": "ADD_TAG", "config": {"tag": "onboarded"}},
            {"type": "REMOVE_TAG", "config": {"tag": "new"}},
            {"type": "ADD_NOTE", "config": {"body": "{{client.name}} now {{client.status}}"}},
        ],
    )
    client = await create_client(
        tenant, name="Bea", email="bea@x.test", tags=["new", "keep"], owner_id=owner["id"]
    )
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert execution["status"] == "COMPLETED", execution
    cid = UUID(client["id"])

    email = await fetchrow('SELECT "to", subject, body, status FROM emails WHERE client = $1', cid)
    assert email is not None
    assert (email["to"], email["subject"], email["status"]) == (
        "bea@x.test",
        "Welcome Bea",
        "DRAFT",
    )
    assert email["body"] == f"Hi Bea from {wf['name']}"

    task = await fetchrow(
        "SELECT title, priority, assignee, due_at, execution FROM tasks WHERE client = $1", cid
    )
    assert task is not None
    assert (task["title"], task["priority"]) == ("Call Bea", "HIGH")
    assert str(task["assignee"]) == owner["id"]
    assert task["due_at"] is not None
    assert str(task["execution"]) == execution["id"]

    row = await fetchrow(
        "SELECT company, status, tags, custom_fields FROM clients WHERE id = $1", cid
    )
    assert row is not None
    assert (row["company"], row["status"]) == ("Bea Ltd", "ACTIVE")
    assert sorted(row["tags"]) == ["keep", "onboarded"]
    assert row["custom_fields"] == {"source": "CLIENT_CREATED"}

    notes = await fetch("SELECT body, execution FROM notes WHERE client = $1", cid)
    # Later steps see the client as earlier steps left it.
    assert [n["body"] for n in notes] == ["Bea now ACTIVE"]

    # The status change is an event one level deeper, caused by this execution.
    [changed] = [e for e in await client_events(client["id"]) if e["type"] != "CLIENT_CREATED"]
    assert changed["type"] == "CLIENT_STATUS_CHANGED"
    assert (changed["depth"], str(changed["caused_by_execution"])) == (1, execution["id"])

    detail = await get_execution(tenant, execution["id"])
    assert [(log["step_index"], log["status"]) for log in detail["logs"]] == [
        (i, "SUCCESS") for i in range(6)
    ]
    assert detail["definition"]["actions"][0]["type"] == "SEND_EMAIL"


async def test_template_error_fails_the_step_without_retry(
    backend: Backend, tenant: TenantCtx
) -> None:
    wf = await failing_first_step(tenant, "{{client.custom_fields.missing}}")
    client = await create_client(tenant)
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert execution["status"] == "FAILED"
    assert "client.custom_fields.missing" in execution["error_message"]
    detail = await get_execution(tenant, execution["id"])
    assert [(log["status"], log["attempt"]) for log in detail["logs"]] == [("FAILED", 1)]
    assert "undefined" in detail["logs"][0]["error_message"]
    assert await count("SELECT count(*) FROM notes WHERE client = $1", UUID(client["id"])) == 0
    row = await fetchrow("SELECT tags FROM clients WHERE id = $1", UUID(client["id"]))
    assert row is not None
    assert "never" not in row["tags"]


async def test_on_error_continue_goes_on(backend: Backend, tenant: TenantCtx) -> None:
    wf = await on_client_created(
        tenant,
        actions=[
            {
                "type": "ADD_NOTE",
                "config": {"body": "{{event.payload.nope}}"},
                "on_error": "continue",
            },
            {"type": "ADD_TAG", "config": {"tag": "after"}},
        ],
    )
    client = await create_client(tenant)
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert execution["status"] == "COMPLETED"
    detail = await get_execution(tenant, execution["id"])
    assert [(log["step_index"], log["status"]) for log in detail["logs"]] == [
        (0, "FAILED"),
        (1, "SUCCESS"),
    ]
    row = await fetchrow("SELECT tags FROM clients WHERE id = $1", UUID(client["id"]))
    assert row is not None
    assert "after" in row["tags"]


async def test_execution_runs_the_definition_it_was_triggered_with(
    backend: Backend, tenant: TenantCtx
) -> None:
    wf = await on_client_created(
        tenant,
        actions=[
            {"type": "DELAY", "config": {"duration": {"seconds": 2}}},
            {"type": "ADD_TAG", "config": {"tag": "v1"}},
        ],
    )
    client = await create_client(tenant)
    [waiting] = await wait_executions(tenant, workflow_id=wf["id"], terminal=False)
    response = await tenant.http.patch(
        f"/api/v1/workflows/{wf['id']}",
        json={"actions": [{"type": "ADD_TAG", "config": {"tag": "v2"}}]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert execution["id"] == waiting["id"]
    assert (execution["status"], execution["workflow_version"]) == ("COMPLETED", 1)
    row = await fetchrow("SELECT tags FROM clients WHERE id = $1", UUID(client["id"]))
    assert row is not None
    assert row["tags"] == ["v1"]
