"""Executions: event type and text filters, retry from the start, bulk cancel/retry by filter."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from app.core.sql import fetch, fetchval
from tests.conftest import TenantCtx
from tests.engine.helpers import (
    NOTE,
    add_user,
    count,
    create_client,
    create_workflow,
    note_task_note,
    on_client_created,
    task_step,
    unique,
    wait_executions,
    wait_for,
    wait_status,
)
from tests.helpers import assert_problem

WAIT_AN_HOUR = [{"type": "DELAY", "config": {"duration": {"hours": 1}}}, *NOTE]


async def _ids(tenant: TenantCtx, **params: Any) -> set[str]:
    response = await tenant.http.get("/api/v1/executions", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return {i["id"] for i in response.json()["items"]}


async def _audit(tenant: TenantCtx, action: str) -> list[Any]:
    return await fetch(
        "SELECT resource_id, changes FROM audit_logs WHERE tenant = $1 AND action = $2",
        tenant.tenant_id,
        action,
    )


async def test_event_type_and_text_search(tenant: TenantCtx) -> None:
    event = unique("order.paid")
    paid = await create_workflow(
        tenant,
        trigger_type="CUSTOM",
        trigger_config={"event": event},
        actions=[{"type": "ADD_NOTE", "config": {"body": "paid"}}],
    )
    broken = await on_client_created(
        tenant,
        actions=[{"type": "ADD_NOTE", "config": {"body": "{{ client.custom_fields.nope }}"}}],
    )
    client = await create_client(tenant)
    for order in ("ORD-12345", "ORD-999"):
        posted = await tenant.http.post(
            "/api/v1/events",
            json={"type": event, "client_id": client["id"], "payload": {"order": order}},
        )
        assert posted.status_code == 201, posted.text
    [failed] = await wait_executions(tenant, workflow=broken["id"])
    both = await wait_executions(tenant, count=2, workflow=paid["id"])
    assert failed["status"] == "FAILED"

    assert await _ids(tenant, event_type=event) == {e["id"] for e in both}
    assert await _ids(tenant, event_type="CLIENT_CREATED") == {failed["id"]}
    [hit] = await _ids(tenant, q="ord-12345")  # any case, inside the event's payload
    assert hit in {e["id"] for e in both}
    assert await _ids(tenant, q="custom_fields") == {failed["id"]}  # inside the error
    assert await _ids(tenant, q="%") == set()  # LIKE wildcards are literal text
    assert await _ids(tenant, q="ORD", event_type=event, status="COMPLETED") == {
        e["id"] for e in both
    }


async def test_bad_filter_values_are_422_naming_the_parameter(tenant: TenantCtx) -> None:
    for params, path in (
        ({"status": "DONE"}, "query.status"),
        ({"workflow": "nope"}, "query.workflow"),
        ({"client": "nope"}, "query.client"),
        ({"event_type": "x" * 101}, "query.event_type"),
        ({"q": "x" * 201}, "query.q"),
        ({"created_after": "yesterday"}, "query.created_after"),
        (
            {"created_after": "2026-01-02T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"},
            "query.created_before",
        ),
        ({"limit": "0"}, "query.limit"),
        ({"cursor": "garbage"}, "query.cursor"),
        ({"stauts": "FAILED"}, "query.stauts"),
    ):
        response = await tenant.http.get("/api/v1/executions", params=params)
        problem = assert_problem(response, 422)
        assert path in [e["path"] for e in problem["errors"]], (params, problem)


async def test_retry_from_the_start_runs_every_step_again(
    tenant: TenantCtx, other: TenantCtx
) -> None:
    assignee = uuid4()
    wf = await note_task_note(tenant, assignee, attempts=1, backoff_s=0, last=None)
    client = await create_client(tenant)
    [execution] = await wait_executions(tenant, workflow=wf["id"])
    assert (execution["status"], execution["current_step"]) == ("FAILED", 1)
    url = f"/api/v1/executions/{execution['id']}/retry-from-start"
    assert_problem(await other.http.post(url), 404)

    await add_user(tenant, assignee)
    response = await tenant.http.post(url)
    assert response.status_code == 200, response.text
    assert response.json()["current_step"] == 0
    done = await wait_status(tenant, execution["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED"
    assert [(log["step_index"], log["status"]) for log in done["logs"]] == [
        (0, "SUCCESS"),
        (0, "SUCCESS"),
        (1, "FAILED"),
        (1, "SUCCESS"),
    ]
    assert await count("SELECT count(*) FROM notes WHERE client = $1", UUID(client["id"])) == 2
    [audit] = await _audit(tenant, "retry_from_start")
    assert audit["resource_id"] == execution["id"]
    assert audit["changes"]["after"]["current_step"] == 0
    assert_problem(await tenant.http.post(url), 409)  # COMPLETED now


async def test_bulk_cancel_previews_confirms_and_audits(
    tenant: TenantCtx, other: TenantCtx
) -> None:
    wf = await on_client_created(tenant, actions=WAIT_AN_HOUR)
    done = await on_client_created(tenant, actions=NOTE)
    for _ in range(3):
        await create_client(tenant)
    waiting = await wait_for(
        lambda: _ids(tenant, workflow=wf["id"], status="WAITING"),
        until=lambda ids: len(ids) == 3,
        what="3 waiting executions",
    )
    await wait_executions(tenant, count=3, workflow=done["id"])
    body: dict[str, Any] = {"filter": {"status": None, "event_type": "CLIENT_CREATED"}}

    preview = await tenant.http.post("/api/v1/executions/bulk/cancel", json=body)
    assert preview.status_code == 200, preview.text
    result = preview.json()
    # Only what can be cancelled counts (the COMPLETED ones match the filter too).
    assert (result["count"], result["applied"], result["too_many"]) == (3, False, False)
    assert set(result["ids"]) == waiting
    assert await _ids(tenant, workflow=wf["id"], status="WAITING") == waiting

    wrong = await tenant.http.post("/api/v1/executions/bulk/cancel", json={**body, "confirm": 2})
    assert "3 executions match now" in assert_problem(wrong, 409)["detail"]
    assert await _ids(tenant, workflow=wf["id"], status="WAITING") == waiting
    # Another tenant's filter never reaches these.
    foreign = await other.http.post(
        "/api/v1/executions/bulk/cancel", json={"filter": {"workflow": wf["id"]}}
    )
    assert foreign.json()["count"] == 0

    applied = await tenant.http.post("/api/v1/executions/bulk/cancel", json={**body, "confirm": 3})
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] is True
    assert await _ids(tenant, workflow=wf["id"], status="CANCELLED") == waiting
    rows = await _audit(tenant, "cancel")
    assert {r["resource_id"] for r in rows} == waiting
    [summary] = await _audit(tenant, "bulk_cancel")
    assert summary["changes"]["after"]["count"] == 3
    assert summary["changes"]["after"]["filter"]["event_type"] == "CLIENT_CREATED"
    again = await tenant.http.post("/api/v1/executions/bulk/cancel", json={**body, "confirm": 3})
    assert_problem(again, 409)


async def test_bulk_retry_from_the_failed_step(tenant: TenantCtx) -> None:
    assignee = uuid4()
    wf = await on_client_created(
        tenant,
        actions=[*NOTE, task_step(assignee, attempts=1, backoff_s=0)],
    )
    for _ in range(2):
        await create_client(tenant)
    failed = await wait_executions(tenant, count=2, workflow=wf["id"])
    assert {e["status"] for e in failed} == {"FAILED"}
    await add_user(tenant, assignee)
    body = {"filter": {"workflow": wf["id"], "status": "FAILED"}}
    preview = (await tenant.http.post("/api/v1/executions/bulk/retry", json=body)).json()
    assert (preview["count"], preview["action"]) == (2, "retry")
    applied = await tenant.http.post("/api/v1/executions/bulk/retry", json={**body, "confirm": 2})
    assert applied.status_code == 200, applied.text
    for e in failed:
        finished = await wait_status(tenant, e["id"], "COMPLETED", "FAILED")
        assert finished["status"] == "COMPLETED"
        assert [log["step_index"] for log in finished["logs"]] == [0, 1, 1]  # not from the start
    assert len(await _audit(tenant, "retry")) == 2
    assert len(await _audit(tenant, "bulk_retry")) == 1


async def test_bulk_actions_are_bounded(tenant: TenantCtx) -> None:
    wf = await create_workflow(tenant, trigger_type="MANUAL", actions=NOTE)
    await fetch(
        """
        INSERT INTO workflow_executions (id, tenant, workflow, workflow_version, status,
            trigger_data, current_step, depth, error_message, created_at, updated_at)
        SELECT gen_random_uuid(), $1, $2, 1, 'FAILED', '{}'::jsonb, 0, 0, 'boom', now(), now()
        FROM generate_series(1, 1001)
        """,
        tenant.tenant_id,
        UUID(wf["id"]),
    )
    body = {"filter": {"workflow": wf["id"]}}
    preview = (await tenant.http.post("/api/v1/executions/bulk/retry", json=body)).json()
    assert (preview["count"], preview["too_many"], preview["limit"]) == (1001, True, 1000)
    refused = await tenant.http.post(
        "/api/v1/executions/bulk/retry", json={**body, "confirm": 1000}
    )
    problem = assert_problem(refused, 422)
    assert problem["errors"][0]["path"] == "$.filter"
    still = await fetchval(
        "SELECT count(*) FROM workflow_executions WHERE workflow = $1 AND status = 'FAILED'",
        UUID(wf["id"]),
    )
    assert still == 1001


async def test_bulk_bodies_are_checked(tenant: TenantCtx) -> None:
    for body, path in (
        ({"confirm": -1}, "$.confirm"),
        ({"confirm": 1001}, "$.confirm"),
        ({"filter": {"status": "DONE"}}, "$.filter.status"),
        ({"filter": {"workflow": "nope"}}, "$.filter.workflow"),
        ({"filter": {"stauts": "FAILED"}}, "$.filter.stauts"),
        ({"filter": {"q": ""}}, "$.filter.q"),
        (
            {"filter": {"created_after": "2026-01-02T00:00:00Z", "created_before": "2026-01-01"}},
            "$.filter.created_before",
        ),
    ):
        response = await tenant.http.post("/api/v1/executions/bulk/cancel", json=body)
        problem = assert_problem(response, 422)
        assert path in [e["path"] for e in problem["errors"]], (body, problem)


async def test_a_search_that_reads_too_long_is_asked_to_narrow(
    tenant: TenantCtx, database_url: str
) -> None:
    import asyncpg

    from app.core.errors import UnprocessableError
    from app.executions.service import list_executions

    # Another session holds the table, so the search waits: past its bound it is cancelled.
    blocker = await asyncpg.connect(database_url)
    try:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE workflow_executions IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(UnprocessableError) as refused:
                await list_executions(tenant_id=tenant.tenant_id, q="ORD", search_timeout_ms=200)
    finally:
        await blocker.close()
    assert refused.value.errors[0]["path"] == "query.q"
    assert "narrow it" in refused.value.detail
    # Without a lock in the way the same search answers.
    page = await list_executions(tenant_id=tenant.tenant_id, q="ORD", search_timeout_ms=200)
    assert page.items == []
