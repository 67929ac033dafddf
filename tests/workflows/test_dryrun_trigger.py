"""Dry runs (nothing written) and manual triggers (a MANUAL event in the outbox)."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest

from app.core.sql import fetch, fetchval
from tests.conftest import TenantCtx
from tests.workflows.conftest import create_workflow, email_action, error_paths, make_client

API = "/api/v1/workflows"
COUNTED = ("events", "emails", "tasks", "notes", "audit_logs", "workflow_executions")


async def row_counts(tenant: TenantCtx) -> dict[str, int]:
    counts = {}
    for table in COUNTED:
        if table == "notes":
            sql = (
                "SELECT count(*) FROM notes n JOIN clients c ON c.id = n.client WHERE c.tenant = $1"
            )
        elif table == "workflow_executions":
            sql = "SELECT count(*) FROM workflow_executions WHERE tenant = $1"
        else:
            sql = f"SELECT count(*) FROM {table} WHERE tenant = $1"  # noqa: S608
        counts[table] = await fetchval(sql, tenant.tenant_id)
    return counts


async def status_workflow(tenant: TenantCtx) -> dict:
    return await create_workflow(
        tenant,
        name="VIP activation",
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config={"to": "ACTIVE"},
        conditions={"field": "client.tags", "operator": "contains", "value": "vip"},
        actions=[
            email_action(subject="{{ client.name }} is now {{ event.payload.to }}"),
            {"type": "ADD_NOTE", "config": {"body": "Plan: {{ client.custom_fields.plan }}"}},
            {
                "type": "CREATE_TASK",
                "config": {
                    "title": "Call {{ client.name }} ({{ workflow.name }} v{{ workflow.version }})"
                },
            },
        ],
        is_active=True,
    )


async def test_dry_run_renders_each_step_and_writes_nothing(tenant: TenantCtx):
    wf = await status_workflow(tenant)
    client = await make_client(tenant, name="Ada", status="ACTIVE", tags=["vip"])
    before = await row_counts(tenant)

    response = await tenant.http.post(f"{API}/{wf['id']}/test", json={"client_id": client["id"]})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["trigger_matched"] is True
    assert result["conditions_matched"] is True
    assert result["would_run"] is True
    assert result["version"] == 1
    assert result["event"]["type"] == "CLIENT_STATUS_CHANGED"
    assert result["event"]["payload"]["to"] == "ACTIVE"
    email, note, task = result["actions"]
    assert email["type"] == "SEND_EMAIL"
    assert email["config"] == {
        "to": "ada@example.com",
        "subject": "Ada is now ACTIVE",
        "body": "Welcome",
    }
    assert email["error"] is None
    assert note["config"] is None
    assert note["error"] == "template error in body: 'client.custom_fields.plan' is undefined"
    assert task["config"]["title"] == "Call Ada (VIP activation v1)"

    assert await row_counts(tenant) == before


async def test_dry_run_reports_conditions_and_trigger_mismatch(tenant: TenantCtx):
    wf = await status_workflow(tenant)
    plain = await make_client(tenant, name="Bob", tags=["beta"], custom_fields={"plan": "gold"})
    result = (
        await tenant.http.post(f"{API}/{wf['id']}/test", json={"client_id": plain["id"]})
    ).json()
    assert result["trigger_matched"] is True
    assert result["conditions_matched"] is False
    assert result["would_run"] is False
    assert result["actions"][1]["config"] == {"body": "Plan: gold"}

    churn = await tenant.http.post(
        f"{API}/{wf['id']}/test",
        json={"client_id": plain["id"], "event_payload": {"from": "ACTIVE", "to": "CHURNED"}},
    )
    assert churn.json()["trigger_matched"] is False
    other_type = await tenant.http.post(
        f"{API}/{wf['id']}/test", json={"client_id": plain["id"], "event_type": "invoice.paid"}
    )
    assert other_type.json()["trigger_matched"] is False
    assert other_type.json()["actions"][0]["error"] == (
        "template error in subject: 'event.payload.to' is undefined"
    )


async def test_dry_run_without_client_and_by_member(tenant: TenantCtx, member: httpx.AsyncClient):
    wf = await create_workflow(
        tenant,
        trigger_type="CUSTOM",
        trigger_config={"event": "invoice.paid"},
        actions=[
            {"type": "ADD_TAG", "config": {"tag": "paid-{{ event.payload.amount | default(0) }}"}}
        ],
    )
    response = await member.post(f"{API}/{wf['id']}/test", json={"event_payload": {"amount": 5}})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["event"] == {"type": "invoice.paid", "payload": {"amount": 5}}
    assert result["would_run"] is True
    assert result["actions"][0]["config"] == {"tag": "paid-5"}


async def test_dry_run_unknown_or_foreign_client(tenant: TenantCtx, other_tenant: TenantCtx):
    wf = await status_workflow(tenant)
    foreign = await make_client(other_tenant, name="Eve")
    for client_id in (str(uuid4()), foreign["id"]):
        response = await tenant.http.post(f"{API}/{wf['id']}/test", json={"client_id": client_id})
        assert "$.client_id" in error_paths(response)
    bad = await tenant.http.post(f"{API}/{wf['id']}/test", json={"client_id": "nope"})
    assert "$.client_id" in error_paths(bad)


async def test_manual_trigger_records_a_manual_event(tenant: TenantCtx):
    wf = await create_workflow(tenant, trigger_type="MANUAL", is_active=True)
    client = await make_client(tenant, name="Ada")
    response = await tenant.http.post(
        f"{API}/{wf['id']}/trigger", json={"client_id": client["id"], "input": {"reason": "demo"}}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["workflow_id"] == wf["id"]
    rows = await fetch(
        "SELECT type, client, payload::text AS payload, actor, depth FROM events "
        "WHERE id = $1 AND tenant = $2",
        body["event_id"],
        tenant.tenant_id,
    )
    assert len(rows) == 1
    event = rows[0]
    assert event["type"] == "MANUAL"
    assert str(event["client"]) == client["id"]
    assert event["actor"] == tenant.admin_id
    assert event["depth"] == 0
    import json

    assert json.loads(event["payload"]) == {"workflow_id": wf["id"], "input": {"reason": "demo"}}
    audit = await fetch(
        "SELECT action FROM audit_logs WHERE tenant = $1 AND resource_id = $2 AND action = $3",
        tenant.tenant_id,
        wf["id"],
        "trigger",
    )
    assert len(audit) == 1

    # Steps that never read the client run without one.
    no_client_wf = await create_workflow(
        tenant,
        trigger_type="MANUAL",
        is_active=True,
        actions=[email_action(to="ops@example.com", subject="Run by {{ event.type }}")],
    )
    no_client = await tenant.http.post(f"{API}/{no_client_wf['id']}/trigger", json={})
    assert no_client.status_code == 202, no_client.text
    row = await fetch(
        "SELECT client, payload::text AS p FROM events WHERE id = $1", no_client.json()["event_id"]
    )
    assert row[0]["client"] is None
    assert json.loads(row[0]["p"]) == {"workflow_id": no_client_wf["id"], "input": {}}


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ({"type": "ADD_TAG", "config": {"tag": "vip"}}, "$.actions[1] (ADD_TAG)"),
        ({"type": "REMOVE_TAG", "config": {"tag": "vip"}}, "$.actions[1] (REMOVE_TAG)"),
        ({"type": "ADD_NOTE", "config": {"body": "hello"}}, "$.actions[1] (ADD_NOTE)"),
        ({"type": "UPDATE_CLIENT", "config": {"status": "ACTIVE"}}, "$.actions[1] (UPDATE_CLIENT)"),
        (email_action(), "$.actions[1].config.to (SEND_EMAIL)"),
        (
            {"type": "CREATE_TASK", "config": {"title": "Call {{ client.name }}"}},
            "$.actions[1].config.title (CREATE_TASK)",
        ),
    ],
)
async def test_manual_trigger_without_the_client_its_steps_need_is_422(
    tenant: TenantCtx, action: dict[str, object], reason: str
):
    harmless = {"type": "CREATE_TASK", "config": {"title": "Look at {{ event.type }}"}}
    wf = await create_workflow(
        tenant, trigger_type="MANUAL", is_active=True, actions=[harmless, action]
    )
    before = await row_counts(tenant)
    response = await tenant.http.post(f"{API}/{wf['id']}/trigger", json={"input": {"a": 1}})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert {e["path"] for e in errors} == {"$.client_id"}
    assert any(reason in e["message"] for e in errors), errors
    assert await row_counts(tenant) == before
    # With a client it is accepted.
    client = await make_client(tenant, name="Ada")
    ok = await tenant.http.post(f"{API}/{wf['id']}/trigger", json={"client_id": client["id"]})
    assert ok.status_code == 202, ok.text


async def test_guarded_client_reads_do_not_need_a_client(tenant: TenantCtx):
    wf = await create_workflow(
        tenant,
        trigger_type="MANUAL",
        is_active=True,
        actions=[
            email_action(
                to="ops@example.com",
                subject="{{ client.name | default('no client') }}",
                body="{% if client.email is defined %}{{ client.email }}{% endif %}",
            )
        ],
    )
    response = await tenant.http.post(f"{API}/{wf['id']}/trigger", json={})
    assert response.status_code == 202, response.text


async def test_manual_trigger_refusals_write_nothing(tenant: TenantCtx, other_tenant: TenantCtx):
    inactive = await create_workflow(tenant, trigger_type="MANUAL")
    not_manual = await create_workflow(tenant, is_active=True)
    active = await create_workflow(tenant, trigger_type="MANUAL", is_active=True)
    foreign = await make_client(other_tenant, name="Eve")
    before = await row_counts(tenant)

    r = await tenant.http.post(f"{API}/{inactive['id']}/trigger", json={})
    assert r.status_code == 409
    assert "inactive" in r.json()["detail"]
    r = await tenant.http.post(f"{API}/{not_manual['id']}/trigger", json={})
    assert r.status_code == 409
    assert "MANUAL" in r.json()["detail"]
    r = await tenant.http.post(f"{API}/{active['id']}/trigger", json={"client_id": foreign["id"]})
    assert "$.client_id" in error_paths(r)
    r = await tenant.http.post(f"{API}/{active['id']}/trigger", json={"input": "text"})
    assert "$.input" in error_paths(r)
    r = await tenant.http.post(f"{API}/{uuid4()}/trigger", json={})
    assert r.status_code == 404

    assert await row_counts(tenant) == before
