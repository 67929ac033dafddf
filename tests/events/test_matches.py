"""GET /api/v1/events/{id}/matches: why each workflow ran for an event, or did not."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from tests.conftest import TenantCtx
from tests.engine.helpers import (
    create_client,
    create_workflow,
    on_client_created,
    set_status,
    unique,
    wait_dispatched,
    wait_executions,
)
from tests.helpers import assert_problem

NOTE = [{"type": "ADD_NOTE", "config": {"body": "hello"}}]


async def _event_of(tenant: TenantCtx, client_id: str, type_: str) -> dict[str, Any]:
    events = await tenant.http.get("/api/v1/events", params={"client": client_id, "type": type_})
    assert events.status_code == 200, events.text
    [event] = events.json()["items"]
    return dict(event)


async def _matches(tenant: TenantCtx, event_id: str) -> dict[str, Any]:
    await wait_dispatched([event_id])
    response = await tenant.http.get(f"/api/v1/events/{event_id}/matches")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_each_workflow_says_why_it_ran_or_not(tenant: TenantCtx) -> None:
    ran = await create_workflow(
        tenant,
        name="a-ran",
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config={"to": "ACTIVE"},
        actions=NOTE,
    )
    other_status = await create_workflow(
        tenant,
        name="b-churned",
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config={"to": "CHURNED"},
        actions=NOTE,
    )
    vip_only = await create_workflow(
        tenant,
        name="c-vip",
        trigger_type="CLIENT_STATUS_CHANGED",
        conditions={
            "all": [
                {"field": "client.status", "operator": "eq", "value": "ACTIVE"},
                {"field": "client.tags", "operator": "contains", "value": "vip"},
            ]
        },
        actions=NOTE,
    )
    missing_field = await create_workflow(
        tenant,
        name="d-missing",
        trigger_type="CLIENT_STATUS_CHANGED",
        conditions={"field": "client.custom_fields.tier", "operator": "eq", "value": "gold"},
        actions=NOTE,
    )
    inactive = await create_workflow(
        tenant, name="e-inactive", trigger_type="CLIENT_STATUS_CHANGED", actions=NOTE
    )
    response = await tenant.http.post(f"/api/v1/workflows/{inactive['id']}/deactivate")
    assert response.status_code == 200, response.text
    # Another trigger type is not asked at all.
    await create_workflow(tenant, trigger_type="DOCUMENT_UPLOADED", actions=NOTE)

    client = await create_client(tenant, tags=["new"])
    await set_status(tenant, client["id"], "ACTIVE")
    event = await _event_of(tenant, client["id"], "CLIENT_STATUS_CHANGED")
    body = await _matches(tenant, event["id"])
    [execution] = await wait_executions(tenant, workflow_id=ran["id"])

    assert body["event_id"] == event["id"]
    assert body["trigger_type"] == "CLIENT_STATUS_CHANGED"
    assert body["summary"] == "1 of 5 workflows with trigger CLIENT_STATUS_CHANGED ran."
    by_workflow = {m["workflow_id"]: m for m in body["matches"]}
    assert len(by_workflow) == 5
    assert body["matches"][0]["workflow_id"] == ran["id"]  # what ran comes first

    hit = by_workflow[ran["id"]]
    assert (hit["matched"], hit["reason"]) == (True, "MATCHED")
    assert hit["execution_id"] == execution["id"]
    assert hit["workflow_name"] == "a-ran"
    assert hit["workflow_version"] == ran["version"]

    config = by_workflow[other_status["id"]]
    assert (config["matched"], config["reason"]) == (False, "TRIGGER_CONFIG")
    assert config["detail"] == {"key": "to", "wanted": "CHURNED", "actual": "ACTIVE"}
    assert config["message"] == 'trigger_config.to wants "CHURNED"; the event has "ACTIVE"'
    assert config["execution_id"] is None

    condition = by_workflow[vip_only["id"]]
    assert (condition["matched"], condition["reason"]) == (False, "CONDITION")
    detail = condition["detail"]
    assert detail["path"] == "$.conditions.all[1]"
    assert (detail["field"], detail["operator"], detail["value"]) == (
        "client.tags",
        "contains",
        "vip",
    )
    assert detail["actual"] == ["new"]
    assert detail["missing"] is False
    assert "client.tags contains" in condition["message"]
    assert '["new"]' in condition["message"]

    absent = by_workflow[missing_field["id"]]["detail"]
    assert absent["path"] == "$.conditions.all[0]"  # a bare leaf is stored as a one-leaf "all"
    assert (absent["missing"], absent["actual"]) == (True, None)
    assert "missing" in by_workflow[missing_field["id"]]["message"]

    off = by_workflow[inactive["id"]]
    assert (off["matched"], off["reason"], off["message"]) == (
        False,
        "INACTIVE",
        "the workflow is inactive",
    )


async def test_any_and_not_report_the_comparison_that_decided(tenant: TenantCtx) -> None:
    either = await on_client_created(
        tenant,
        conditions={
            "any": [
                {"field": "client.company", "operator": "eq", "value": "Acme"},
                {"field": "client.company", "operator": "eq", "value": "Initech"},
            ]
        },
        actions=NOTE,
    )
    negated = await on_client_created(
        tenant,
        conditions={"not": {"field": "client.status", "operator": "eq", "value": "LEAD"}},
        actions=NOTE,
    )
    client = await create_client(tenant, company="Globex")
    event = await _event_of(tenant, client["id"], "CLIENT_CREATED")
    by_workflow = {m["workflow_id"]: m for m in (await _matches(tenant, event["id"]))["matches"]}
    any_detail = by_workflow[either["id"]]["detail"]
    assert any_detail["path"] == "$.conditions.any[0]"
    assert (any_detail["actual"], any_detail["alternatives"]) == ("Globex", 2)
    assert "none of the 2 alternatives held" in by_workflow[either["id"]]["message"]
    not_detail = by_workflow[negated["id"]]["detail"]
    assert not_detail["path"] == "$.conditions.not"
    assert (not_detail["negated"], not_detail["actual"]) == (True, "LEAD")


async def test_a_custom_event_that_ran_nothing_names_the_event_each_workflow_wants(
    tenant: TenantCtx,
) -> None:
    wanted = unique("order.paid")
    workflow = await create_workflow(
        tenant, trigger_type="CUSTOM", trigger_config={"event": wanted}, actions=NOTE
    )
    posted = await tenant.http.post("/api/v1/events", json={"type": "order.payed", "payload": {}})
    assert posted.status_code == 201, posted.text
    body = await _matches(tenant, posted.json()["id"])
    assert body["trigger_type"] == "CUSTOM"
    [decision] = body["matches"]
    assert decision["workflow_id"] == workflow["id"]
    assert decision["reason"] == "TRIGGER_CONFIG"
    assert decision["detail"] == {"key": "event", "wanted": wanted, "actual": "order.payed"}
    assert body["summary"] == "0 of 1 workflows with trigger CUSTOM ran."


async def test_no_workflow_of_the_type(tenant: TenantCtx) -> None:
    posted = await tenant.http.post("/api/v1/events", json={"type": "nobody.listens"})
    assert posted.status_code == 201, posted.text
    body = await _matches(tenant, posted.json()["id"])
    assert body["matches"] == []
    assert body["summary"] == "No workflow triggers on CUSTOM: nothing ran."


async def test_the_loop_guard_is_the_reason(tenant: TenantCtx) -> None:
    from app.core.config import get_settings
    from app.core.uow import unit_of_work
    from app.events.service import record_event

    name = unique("deep")
    workflow = await create_workflow(
        tenant, trigger_type="CUSTOM", trigger_config={"event": name}, actions=NOTE
    )
    depth = get_settings().max_chain_depth + 1
    async with unit_of_work():
        recorded = await record_event(tenant_id=tenant.tenant_id, type=name, depth=depth)
    body = await _matches(tenant, str(recorded.id))
    [decision] = body["matches"]
    assert decision["workflow_id"] == workflow["id"]
    assert (decision["matched"], decision["reason"]) == (False, "LOOP_GUARD")
    assert decision["detail"] == {"depth": depth, "max_depth": depth - 1}
    executions = await tenant.http.get("/api/v1/executions", params={"workflow": workflow["id"]})
    assert executions.json()["items"] == []


async def test_a_manual_run_records_only_its_workflow(tenant: TenantCtx) -> None:
    target = await create_workflow(tenant, trigger_type="MANUAL", actions=NOTE)
    await create_workflow(tenant, trigger_type="MANUAL", actions=NOTE)
    client = await create_client(tenant)
    run = await tenant.http.post(
        f"/api/v1/workflows/{target['id']}/trigger", json={"client_id": client["id"]}
    )
    assert run.status_code in (200, 201, 202), run.text
    event = await _event_of(tenant, client["id"], "MANUAL")
    body = await _matches(tenant, event["id"])
    assert [(m["workflow_id"], m["reason"]) for m in body["matches"]] == [(target["id"], "MATCHED")]


async def test_other_tenants_and_bad_ids(tenant: TenantCtx, other: TenantCtx) -> None:
    posted = await tenant.http.post("/api/v1/events", json={"type": "x.y"})
    event_id = posted.json()["id"]
    await wait_dispatched([event_id])
    for path in (f"/api/v1/events/{event_id}/matches", f"/api/v1/events/{event_id}"):
        assert_problem(await other.http.get(path), 404)
    assert_problem(await tenant.http.get(f"/api/v1/events/{uuid4()}/matches"), 404)
    bad = assert_problem(await tenant.http.get("/api/v1/events/not-an-id/matches"), 422)
    assert bad["errors"][0]["path"] == "path.event_id"
    one = await tenant.http.get(f"/api/v1/events/{event_id}")
    assert one.status_code == 200
    assert UUID(one.json()["id"]) == UUID(event_id)
