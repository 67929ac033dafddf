"""Bulk ingestion: POST /clients/batch (upsert by external id) and POST /events/batch."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.core.sql import fetch, fetchval
from tests.conftest import TenantCtx
from tests.helpers import all_pages, assert_problem, make_client

CLIENTS = "/api/v1/clients/batch"
EVENTS = "/api/v1/events/batch"


async def _events(tenant: TenantCtx) -> list[dict[str, Any]]:
    return await all_pages(tenant.http, "/api/v1/events", sort="created_at")


async def _audit(tenant: TenantCtx, resource_type: str) -> list[dict[str, Any]]:
    rows = await fetch(
        "SELECT action, resource_id FROM audit_logs WHERE tenant = $1 AND resource_type = $2 "
        "ORDER BY created_at",
        tenant.tenant_id,
        resource_type,
    )
    return [dict(r) for r in rows]


async def test_clients_batch_creates_then_updates_by_external_id(tenant: TenantCtx) -> None:
    first = await tenant.http.post(
        CLIENTS,
        json={
            "items": [
                {"external_id": "crm-1", "name": "Ada", "tags": ["VIP"], "status": "LEAD"},
                {"external_id": "crm-2", "name": "Grace"},
                {"external_id": "crm-3", "name": "Linus", "custom_fields": {"plan": "pro"}},
            ]
        },
    )
    assert first.status_code == 200, first.text
    results = first.json()["items"]
    assert [(r["index"], r["external_id"], r["outcome"]) for r in results] == [
        (0, "crm-1", "created"),
        (1, "crm-2", "created"),
        (2, "crm-3", "created"),
    ]
    ids = {r["external_id"]: r["id"] for r in results}
    ada = (await tenant.http.get(f"/api/v1/clients/{ids['crm-1']}")).json()
    assert ada["external_id"] == "crm-1"
    assert ada["tags"] == ["vip"]  # the single route's normalisation

    second = await tenant.http.post(
        CLIENTS,
        json={
            "items": [
                {"external_id": "crm-1", "status": "ACTIVE"},
                {"external_id": "crm-2", "name": "Grace"},
                {"external_id": "crm-4", "name": "Margaret", "status": "ACTIVE"},
            ]
        },
    )
    assert second.status_code == 200, second.text
    assert [(r["external_id"], r["outcome"]) for r in second.json()["items"]] == [
        ("crm-1", "updated"),
        ("crm-2", "unchanged"),
        ("crm-4", "created"),
    ]
    assert second.json()["items"][0]["id"] == ids["crm-1"]
    assert second.json()["items"][1]["id"] == ids["crm-2"]

    # One transaction per request: rows of one batch share created_at, so compare as sets.
    events = await _events(tenant)
    assert sorted(e["type"] for e in events) == ["CLIENT_CREATED"] * 4 + ["CLIENT_STATUS_CHANGED"]
    (changed,) = [e for e in events if e["type"] == "CLIENT_STATUS_CHANGED"]
    assert changed["payload"] == {"from": "LEAD", "to": "ACTIVE"}
    assert changed["client_id"] == ids["crm-1"]
    assert {e["actor_id"] for e in events} == {str(tenant.admin_id)}
    audit = await _audit(tenant, "client")
    assert sorted(a["action"] for a in audit) == ["create"] * 4 + ["update"]
    (update,) = [a for a in audit if a["action"] == "update"]
    assert update["resource_id"] == ids["crm-1"]
    clients = await all_pages(tenant.http, "/api/v1/clients")
    assert sorted(c["external_id"] for c in clients) == ["crm-1", "crm-2", "crm-3", "crm-4"]


async def test_clients_batch_is_all_or_nothing_with_every_bad_item_named(
    tenant: TenantCtx,
) -> None:
    await tenant.http.post(CLIENTS, json={"items": [{"external_id": "old", "name": "Old"}]})
    before_events = [e["id"] for e in await _events(tenant)]
    response = await tenant.http.post(
        CLIENTS,
        json={
            "items": [
                {"external_id": "ok", "name": "Fine"},
                {"external_id": "no-name"},
                {"external_id": "old", "status": "ACTIVE"},
                {
                    "external_id": "bad-owner",
                    "name": "X",
                    "owner_id": "00000000-0000-4000-8000-000000000000",
                },
            ]
        },
    )
    body = assert_problem(response, 422)
    paths = {e["path"] for e in body["errors"]}
    assert paths == {"$.items[1]", "$.items[3].owner_id"}, body
    # Nothing written: not the valid creation, not the valid status change.
    assert [e["id"] for e in await _events(tenant)] == before_events
    clients = await all_pages(tenant.http, "/api/v1/clients")
    assert [(c["external_id"], c["status"]) for c in clients] == [("old", "LEAD")]


async def test_clients_batch_shape_errors(tenant: TenantCtx) -> None:
    bad_status = await tenant.http.post(
        CLIENTS, json={"items": [{"external_id": "a", "name": "A", "status": "NOPE"}]}
    )
    assert assert_problem(bad_status, 422)["errors"][0]["path"] == "$.items[0].status"
    repeated = await tenant.http.post(
        CLIENTS,
        json={"items": [{"external_id": "a", "name": "A"}, {"external_id": "a", "name": "B"}]},
    )
    assert assert_problem(repeated, 422)["errors"] == [
        {"path": "$.items[1].external_id", "message": "repeats item 0 of this batch"}
    ]
    assert_problem(await tenant.http.post(CLIENTS, json={"items": []}), 422)
    too_many = [{"external_id": f"x{i}", "name": "X"} for i in range(1001)]
    assert_problem(await tenant.http.post(CLIENTS, json={"items": too_many}), 422)
    assert_problem(await tenant.http.post(CLIENTS, json={"items": [{"name": "no id"}]}), 422)
    assert_problem(
        await tenant.http.post(CLIENTS, json={"items": [{"external_id": " ", "name": "A"}]}), 422
    )
    assert await all_pages(tenant.http, "/api/v1/clients") == []


async def test_external_ids_are_per_tenant_and_unique(tenant: TenantCtx, other: TenantCtx) -> None:
    mine = await tenant.http.post(CLIENTS, json={"items": [{"external_id": "e1", "name": "A"}]})
    theirs = await other.http.post(CLIENTS, json={"items": [{"external_id": "e1", "name": "B"}]})
    assert mine.json()["items"][0]["outcome"] == "created"
    assert theirs.json()["items"][0]["outcome"] == "created"
    assert mine.json()["items"][0]["id"] != theirs.json()["items"][0]["id"]
    # The single route takes an external id too; a taken one is a conflict, not a 500.
    single = await make_client(tenant.http, external_id="e2")
    assert single["external_id"] == "e2"
    taken = await tenant.http.post("/api/v1/clients", json={"name": "C", "external_id": "e1"})
    assert assert_problem(taken, 409)["errors"][0]["path"] == "$.external_id"


async def test_concurrent_batches_create_each_external_id_once(tenant: TenantCtx) -> None:
    items = [{"external_id": f"c{i}", "name": f"Client {i}"} for i in range(50)]

    async def send(http: httpx.AsyncClient) -> list[str]:
        response = await http.post(CLIENTS, json={"items": items})
        assert response.status_code == 200, response.text
        return [r["outcome"] for r in response.json()["items"]]

    outcomes = await asyncio.gather(*(send(tenant.http) for _ in range(3)))
    created = sum(o.count("created") for o in outcomes)
    assert created == 50
    count = await fetchval("SELECT count(*) FROM clients WHERE tenant = $1", tenant.tenant_id)
    assert count == 50
    created_events = await fetchval(
        "SELECT count(*) FROM events WHERE tenant = $1 AND type = 'CLIENT_CREATED'",
        tenant.tenant_id,
    )
    assert created_events == 50


async def test_events_batch_with_idempotency_keys(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http)
    earlier = await tenant.http.post(
        "/api/v1/events", json={"type": "order.paid"}, headers={"Idempotency-Key": "k0"}
    )
    assert earlier.status_code == 201
    response = await tenant.http.post(
        EVENTS,
        json={
            "items": [
                {"type": "order.paid", "client_id": client["id"], "idempotency_key": "k1"},
                {"type": "order.paid", "payload": {"n": 2}, "idempotency_key": "k0"},
                {"type": "order.shipped", "idempotency_key": "k1"},
                {"type": "ping"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["index"], i["created"]) for i in items] == [
        (0, True),
        (1, False),
        (2, False),
        (3, True),
    ]
    assert items[1]["event"]["id"] == earlier.json()["id"]
    assert items[2]["event"]["id"] == items[0]["event"]["id"]
    assert items[0]["event"]["client_id"] == client["id"]
    custom = [e for e in await _events(tenant) if e["type"] != "CLIENT_CREATED"]
    assert len(custom) == 3
    assert len(await _audit(tenant, "event")) == 3


async def test_events_batch_is_all_or_nothing(tenant: TenantCtx) -> None:
    response = await tenant.http.post(
        EVENTS,
        json={
            "items": [
                {"type": "fine", "idempotency_key": "a"},
                {"type": "CLIENT_CREATED"},
                {"type": "x", "client_id": "00000000-0000-4000-8000-000000000000"},
            ]
        },
    )
    body = assert_problem(response, 422)
    assert {e["path"] for e in body["errors"]} == {"$.items[1].type", "$.items[2].client_id"}
    assert await _events(tenant) == []
    bad_name = await tenant.http.post(EVENTS, json={"items": [{"type": "no spaces"}]})
    assert assert_problem(bad_name, 422)["errors"][0]["path"] == "$.items[0].type"


async def test_batch_events_run_workflows(tenant: TenantCtx) -> None:
    from tests.workflows.conftest import create_workflow

    wf = await create_workflow(
        tenant,
        trigger_type="CLIENT_CREATED",
        is_active=True,
        actions=[{"type": "ADD_TAG", "config": {"tag": "synced"}}],
    )
    response = await tenant.http.post(
        CLIENTS,
        json={"items": [{"external_id": f"w{i}", "name": f"W{i}"} for i in range(20)]},
    )
    assert response.status_code == 200, response.text
    for _ in range(600):
        done = await fetchval(
            "SELECT count(*) FROM workflow_executions WHERE workflow = $1 AND status = 'COMPLETED'",
            wf["id"],
        )
        if done == 20:
            break
        await asyncio.sleep(0.05)
    assert done == 20
    tagged = await fetchval(
        "SELECT count(*) FROM clients WHERE tenant = $1 AND 'synced' = ANY(tags)", tenant.tenant_id
    )
    assert tagged == 20
