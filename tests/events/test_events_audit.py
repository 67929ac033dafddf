"""Outbox events (written iff the change commits), idempotent custom events, the audit trail."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from app.clients.service import create_client, update_client
from app.core.sql import fetch, fetchval
from app.core.uow import unit_of_work
from tests.conftest import TenantCtx
from tests.helpers import all_pages, assert_problem, make_client


async def _events(tenant: TenantCtx) -> list[dict[str, object]]:
    return await all_pages(tenant.http, "/api/v1/events", sort="created_at")


async def test_client_writes_emit_their_events(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http, status="LEAD", tags=["vip"])
    await tenant.http.patch(f"/api/v1/clients/{client['id']}", json={"name": "Renamed"})
    await tenant.http.patch(f"/api/v1/clients/{client['id']}", json={"status": "ACTIVE"})
    await tenant.http.patch(f"/api/v1/clients/{client['id']}", json={"status": "ACTIVE"})
    await tenant.http.post(
        f"/api/v1/clients/{client['id']}/documents",
        files={"file": ("a.pdf", b"%PDF", "application/pdf")},
    )
    events = await _events(tenant)
    assert [e["type"] for e in events] == [
        "CLIENT_CREATED",
        "CLIENT_STATUS_CHANGED",
        "DOCUMENT_UPLOADED",
    ]
    created, changed, uploaded = events
    assert created["payload"]["status"] == "LEAD"
    assert created["payload"]["client"]["tags"] == ["vip"]
    assert created["payload"]["client"]["id"] == client["id"]
    assert changed["payload"] == {"from": "LEAD", "to": "ACTIVE"}
    assert uploaded["payload"]["content_type"] == "application/pdf"
    assert uploaded["payload"]["size_bytes"] == 4
    assert {e["client_id"] for e in events} == {client["id"]}
    assert {e["actor_id"] for e in events} == {str(tenant.admin_id)}


async def test_rejected_requests_write_no_event_and_change_nothing(tenant: TenantCtx) -> None:
    bad = await tenant.http.post("/api/v1/clients", json={"name": "", "status": "ACTIVE"})
    assert_problem(bad, 422)
    unknown_owner = await tenant.http.post(
        "/api/v1/clients",
        json={"name": "X", "owner_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert_problem(unknown_owner, 422)
    assert await _events(tenant) == []
    assert await all_pages(tenant.http, "/api/v1/clients") == []

    client = await make_client(tenant.http, status="LEAD")
    # The status change and the invalid owner arrive together: neither may stick.
    both = await tenant.http.patch(
        f"/api/v1/clients/{client['id']}",
        json={"status": "ACTIVE", "owner_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert_problem(both, 422)
    # The database refuses NUL characters: the UPDATE fails inside the transaction.
    nul = await tenant.http.patch(
        f"/api/v1/clients/{client['id']}", json={"status": "ACTIVE", "company": "a\u0000b"}
    )
    assert_problem(nul, 422)
    assert (await tenant.http.get(f"/api/v1/clients/{client['id']}")).json()["status"] == "LEAD"
    assert [e["type"] for e in await _events(tenant)] == ["CLIENT_CREATED"]


async def test_event_exists_iff_the_unit_of_work_commits(tenant: TenantCtx) -> None:
    class Boom(Exception):
        pass

    created: list[str] = []

    async def create_then_fail() -> None:
        async with unit_of_work():
            snap = await create_client(
                tenant_id=tenant.tenant_id, actor_id=tenant.admin_id, data={"name": "Ghost"}
            )
            created.append(snap["id"])
            raise Boom

    with pytest.raises(Boom):
        await create_then_fail()
    assert await fetchval("SELECT count(*) FROM clients WHERE id = $1", UUID(created[0])) == 0
    assert await fetchval("SELECT count(*) FROM events WHERE tenant = $1", tenant.tenant_id) == 0
    assert (
        await fetchval("SELECT count(*) FROM audit_logs WHERE tenant = $1", tenant.tenant_id) == 0
    )

    async with unit_of_work():
        snap = await create_client(
            tenant_id=tenant.tenant_id, actor_id=None, data={"name": "Real", "status": "LEAD"}
        )
        after = await update_client(
            tenant_id=tenant.tenant_id,
            client_id=UUID(snap["id"]),
            changes={"status": "ACTIVE"},
            actor_id=None,
            depth=2,
            caused_by_execution=None,
        )
    assert after["status"] == "ACTIVE"
    rows = await fetch(
        "SELECT type, depth FROM events WHERE tenant = $1 ORDER BY depth", tenant.tenant_id
    )
    assert [(r["type"], r["depth"]) for r in rows] == [
        ("CLIENT_CREATED", 0),
        ("CLIENT_STATUS_CHANGED", 2),
    ]


async def test_custom_event_is_idempotent_by_header_or_body(tenant: TenantCtx) -> None:
    body = {"type": "invoice.paid", "payload": {"amount": 12.5, "lines": [1, 2]}}
    first = await tenant.http.post("/api/v1/events", json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 201, first.text
    again = await tenant.http.post("/api/v1/events", json=body, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["payload"] == body["payload"]
    assert first.json()["idempotency_key"] == "k1"

    in_body = await tenant.http.post("/api/v1/events", json={**body, "idempotency_key": "k2"})
    assert in_body.status_code == 201
    repeat = await tenant.http.post("/api/v1/events", json={**body, "idempotency_key": "k2"})
    assert repeat.status_code == 200
    assert repeat.json()["id"] == in_body.json()["id"]
    # The header and the body name the same key: the same event.
    mixed = await tenant.http.post("/api/v1/events", json=body, headers={"Idempotency-Key": "k2"})
    assert mixed.status_code == 200
    assert mixed.json()["id"] == in_body.json()["id"]
    # When both are sent the header wins.
    both = await tenant.http.post(
        "/api/v1/events", json={**body, "idempotency_key": "k2"}, headers={"Idempotency-Key": "k1"}
    )
    assert both.status_code == 200
    assert both.json()["id"] == first.json()["id"]

    no_key = [await tenant.http.post("/api/v1/events", json=body) for _ in range(2)]
    assert [r.status_code for r in no_key] == [201, 201]
    assert len(await _events(tenant)) == 4


async def test_concurrent_repeats_record_one_event(tenant: TenantCtx) -> None:
    responses = await asyncio.gather(
        *(
            tenant.http.post(
                "/api/v1/events", json={"type": "race"}, headers={"Idempotency-Key": "same"}
            )
            for _ in range(8)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await _events(tenant)) == 1


async def test_custom_event_validation(tenant: TenantCtx) -> None:
    for body, path in (
        ({"type": "CLIENT_CREATED"}, "$.type"),
        ({"type": "manual"}, "$.type"),
        ({"type": ""}, "$.type"),
        ({"type": "has space"}, "$.type"),
        ({"type": "ok", "payload": [1]}, "$.payload"),
        ({"type": "ok", "idempotency_key": ""}, "$.idempotency_key"),
    ):
        response = await tenant.http.post("/api/v1/events", json=body)
        problem = assert_problem(response, 422)
        assert path in {e["path"] for e in problem["errors"]}, (body, problem)
    unknown = await tenant.http.post(
        "/api/v1/events",
        json={"type": "ok", "client_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert assert_problem(unknown, 422)["errors"][0]["path"] == "$.client_id"
    assert await _events(tenant) == []


async def test_event_list_filters(tenant: TenantCtx) -> None:
    a = await make_client(tenant.http, name="A")
    b = await make_client(tenant.http, name="B")
    ping = (
        await tenant.http.post("/api/v1/events", json={"type": "ping", "client_id": a["id"]})
    ).json()

    async def types(**params: object) -> list[str]:
        items = await all_pages(tenant.http, "/api/v1/events", sort="created_at", **params)
        return [str(i["type"]) for i in items]

    assert await types(client=a["id"]) == ["CLIENT_CREATED", "ping"]
    assert await types(client=b["id"]) == ["CLIENT_CREATED"]
    assert await types(type="ping") == ["ping"]
    assert await types(created_after=ping["created_at"]) == ["ping"]
    assert await types(created_before=ping["created_at"]) == ["CLIENT_CREATED", "CLIENT_CREATED"]
    assert len(await all_pages(tenant.http, "/api/v1/events", limit=1)) == 3


async def test_audit_records_who_what_and_changed_fields(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http, name="Audited", email="a@a.test")
    await tenant.http.patch(
        f"/api/v1/clients/{client['id']}",
        json={"email": "b@b.test", "name": "Audited"},
        headers={"User-Agent": "audit-test/1.0"},
    )
    await tenant.http.delete(f"/api/v1/clients/{client['id']}")

    entries = await all_pages(
        tenant.http,
        "/api/v1/audit-logs",
        resource_type="client",
        resource_id=client["id"],
        sort="created_at",
    )
    assert [e["action"] for e in entries] == ["create", "update", "delete"]
    create, update, delete = entries
    key_id = await fetchval('SELECT id FROM api_keys WHERE "user" = $1', tenant.admin_id)
    for entry in entries:
        assert entry["user_id"] == str(tenant.admin_id)
        assert entry["api_key_id"] == str(key_id)
        assert entry["ip"] == "127.0.0.1"
    assert create["changes"]["after"]["email"] == "a@a.test"
    assert update["changes"] == {"before": {"email": "a@a.test"}, "after": {"email": "b@b.test"}}
    assert update["user_agent"] == "audit-test/1.0"
    assert delete["changes"]["before"]["name"] == "Audited"

    by_action = await all_pages(tenant.http, "/api/v1/audit-logs", action="update")
    assert [e["id"] for e in by_action] == [update["id"]]
    by_user = await all_pages(tenant.http, "/api/v1/audit-logs", user=str(tenant.admin_id))
    assert len(by_user) == 3


async def test_audit_of_keys_and_users_holds_no_secret(tenant: TenantCtx) -> None:
    key = (await tenant.http.post("/api/v1/api-keys", json={"name": "s"})).json()
    await tenant.http.post(f"/api/v1/api-keys/{key['id']}/revoke")
    await tenant.http.post("/api/v1/users", json={"email": "u@u.test"})
    entries = await all_pages(tenant.http, "/api/v1/audit-logs")
    assert {(e["resource_type"], e["action"]) for e in entries} == {
        ("api_key", "create"),
        ("api_key", "revoke"),
        ("user", "create"),
    }
    raw = await fetch(
        "SELECT changes::text AS c FROM audit_logs WHERE tenant = $1", tenant.tenant_id
    )
    assert all(key["key"] not in r["c"] for r in raw)


async def test_every_write_is_audited(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http)
    cid = client["id"]
    note = (await tenant.http.post("/api/v1/notes", json={"client_id": cid, "body": "n"})).json()
    task = (await tenant.http.post("/api/v1/tasks", json={"title": "t"})).json()
    doc = (
        await tenant.http.post(f"/api/v1/clients/{cid}/documents", files={"file": ("a", b"a")})
    ).json()
    await tenant.http.post(f"/api/v1/clients/{cid}/tags", json={"tag": "x"})
    await tenant.http.delete(f"/api/v1/clients/{cid}/tags/x")
    await tenant.http.patch(f"/api/v1/notes/{note['id']}", json={"body": "m"})
    await tenant.http.patch(f"/api/v1/tasks/{task['id']}", json={"status": "DONE"})
    await tenant.http.delete(f"/api/v1/notes/{note['id']}")
    await tenant.http.delete(f"/api/v1/tasks/{task['id']}")
    await tenant.http.delete(f"/api/v1/documents/{doc['id']}")
    await tenant.http.post("/api/v1/events", json={"type": "custom.thing"})
    seen = {
        (e["resource_type"], e["action"])
        for e in await all_pages(tenant.http, "/api/v1/audit-logs")
    }
    assert seen == {
        ("client", "create"),
        ("client", "add_tag"),
        ("client", "remove_tag"),
        ("note", "create"),
        ("note", "update"),
        ("note", "delete"),
        ("task", "create"),
        ("task", "update"),
        ("task", "delete"),
        ("document", "create"),
        ("document", "delete"),
        ("event", "create"),
    }


async def test_audit_redacts_secret_looking_fields(tenant: TenantCtx) -> None:
    client = await make_client(
        tenant.http, custom_fields={"api_token": "s3cret", "nested": {"password": "hunter2"}}
    )
    entries = await all_pages(
        tenant.http, "/api/v1/audit-logs", resource_id=client["id"], action="create"
    )
    fields = entries[0]["changes"]["after"]["custom_fields"]
    assert fields == {"api_token": "[redacted]", "nested": {"password": "[redacted]"}}
    # The client itself keeps its data; only the trail hides it.
    got = await tenant.http.get(f"/api/v1/clients/{client['id']}")
    assert got.json()["custom_fields"]["api_token"] == "s3cret"
