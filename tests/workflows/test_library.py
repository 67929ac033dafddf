"""Shipped workflow templates (each saved and run end to end with the events it is made for),
tenant templates, definition versions (list, diff, restore), export and import."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx
import pytest

from app.core.sql import fetch, fetchval
from app.workflows.library import TEMPLATES
from tests.conftest import TenantCtx
from tests.emails.conftest import session_sink, unique_address  # noqa: F401 - the SMTP sink
from tests.emails.smtp_sink import SmtpSink
from tests.engine.helpers import create_client, set_status, wait_executions, wait_status
from tests.webhooks.conftest import session_receiver  # noqa: F401 - the allowlisted receiver
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_hubspot import hubspot_request


async def instantiate(tenant: TenantCtx, key: str, **extra: Any) -> dict[str, Any]:
    response = await tenant.http.post(
        "/api/v1/workflows", json={"from_template": key, "is_active": True, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["is_active"] is True
    return body


async def one_execution(tenant: TenantCtx, workflow: dict[str, Any]) -> dict[str, Any]:
    [execution] = await wait_executions(tenant, workflow_id=workflow["id"])
    assert execution["status"] == "COMPLETED", execution
    return execution


async def tasks_of(tenant: TenantCtx) -> list[Any]:
    return await fetch(
        "SELECT title, priority, client FROM tasks WHERE tenant = $1 ORDER BY created_at",
        tenant.tenant_id,
    )


async def tags_of(client_id: str) -> list[str]:
    return list(await fetchval("SELECT tags FROM clients WHERE id = $1", UUID(client_id)))


async def notes_of(client_id: str) -> list[str]:
    rows = await fetch(
        "SELECT body FROM notes WHERE client = $1 ORDER BY created_at", UUID(client_id)
    )
    return [r["body"] for r in rows]


async def email_subjects(client_id: str) -> list[str]:
    rows = await fetch("SELECT subject FROM emails WHERE client = $1", UUID(client_id))
    return [r["subject"] for r in rows]


async def approve_and_receive(tenant: TenantCtx, sink: SmtpSink, client_id: str) -> list[str]:
    """An operator approves the client's drafts; the worker delivers them to the SMTP sink.
    The subjects the sink received, once each email is SENT."""
    rows = await fetch('SELECT id, "to" FROM emails WHERE client = $1', UUID(client_id))
    assert rows
    for row in rows:
        url = f"/api/v1/emails/{row['id']}"
        approved = await tenant.http.post(f"{url}/approve")
        assert approved.status_code == 200, approved.text
        for _ in range(300):
            if (await tenant.http.get(url)).json()["status"] == "SENT":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"email {row['id']} was not sent")
    return [str(m.message["Subject"]) for r in rows for m in sink.handler.to(r["to"])]


async def run_vip_welcome(tenant: TenantCtx, *, sink: SmtpSink, **_: Any) -> None:
    wf = await instantiate(tenant, "vip-welcome")
    plain = await create_client(tenant, email=unique_address("plain"))
    vip = await create_client(tenant, name="Ada", email=unique_address("ada"), tags=["VIP"])
    await one_execution(tenant, wf)  # the plain client started nothing
    assert await email_subjects(vip["id"]) == ["Welcome aboard, Ada"]
    assert await approve_and_receive(tenant, sink, vip["id"]) == ["Welcome aboard, Ada"]
    assert [(t["title"], t["priority"]) for t in await tasks_of(tenant)] == [
        ("Welcome call with VIP Ada", "HIGH")
    ]
    assert await email_subjects(plain["id"]) == []


async def run_onboarding(tenant: TenantCtx, *, sink: SmtpSink, **_: Any) -> None:
    wf = await instantiate(tenant, "onboarding-on-active")
    client = await create_client(tenant, name="Bo", email=unique_address("bo"))
    await set_status(tenant, client["id"], "ACTIVE")
    await one_execution(tenant, wf)
    assert "onboarding" in await tags_of(client["id"])
    assert [t["title"] for t in await tasks_of(tenant)] == ["Onboarding kick-off: Bo"]
    assert await approve_and_receive(tenant, sink, client["id"]) == ["Getting started, Bo"]


async def run_document_review(tenant: TenantCtx, **_: Any) -> None:
    wf = await instantiate(tenant, "document-review")
    client = await create_client(tenant, name="Cy")
    for name, kind in (("notes.txt", "text/plain"), ("contract.pdf", "application/pdf")):
        response = await tenant.http.post(
            f"/api/v1/clients/{client['id']}/documents",
            files={"file": (name, b"%PDF-1.4 test", kind)},
        )
        assert response.status_code == 201, response.text
    await one_execution(tenant, wf)  # the text file started nothing
    assert [t["title"] for t in await tasks_of(tenant)] == ["Review contract.pdf for Cy"]
    assert await notes_of(client["id"]) == ["contract.pdf uploaded, review requested."]


async def run_churn(tenant: TenantCtx, *, sink: SmtpSink, **_: Any) -> None:
    wf = await instantiate(tenant, "churn-follow-up")
    client = await create_client(tenant, name="Di", email=unique_address("di"), tags=["onboarding"])
    await set_status(tenant, client["id"], "ACTIVE")
    await set_status(tenant, client["id"], "CHURNED")
    await one_execution(tenant, wf)
    assert [(t["title"], t["priority"]) for t in await tasks_of(tenant)] == [
        ("Why did Di leave? Call them", "URGENT")
    ]
    assert await notes_of(client["id"]) == ["Churned (was ACTIVE)."]
    assert "onboarding" not in await tags_of(client["id"])
    assert await approve_and_receive(tenant, sink, client["id"]) == [
        "We are sorry to see you go, Di"
    ]


async def run_stale_lead(tenant: TenantCtx, **_: Any) -> None:
    wf = await instantiate(tenant, "stale-lead-nudge")
    client = await create_client(tenant, name="Ed", status="LEAD")
    [execution] = await wait_executions(tenant, workflow_id=wf["id"], terminal=False)
    waiting = await wait_status(tenant, execution["id"], "WAITING")
    assert waiting["current_step"] == 1
    assert await tasks_of(tenant) == []
    # Three days pass (the resume time moves to now); the recovery sweep resumes it.
    await fetchval(
        "UPDATE workflow_executions SET resume_at = now() WHERE id = $1 RETURNING 1",
        UUID(execution["id"]),
    )
    done = await wait_status(tenant, execution["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert [t["title"] for t in await tasks_of(tenant)] == ["Follow up lead Ed"]
    assert "nudged" in await tags_of(client["id"])


async def run_erp(tenant: TenantCtx, *, receiver: Receiver, **_: Any) -> None:
    wf = await instantiate(tenant, "erp-won-deal")
    # The user points the template at their ERP.
    path = f"/erp/{tenant.tenant_id}"
    actions = wf["actions"]
    actions[0]["config"]["url"] = receiver.base + path
    patched = await tenant.http.patch(f"/api/v1/workflows/{wf['id']}", json={"actions": actions})
    assert patched.status_code == 200, patched.text
    client = await create_client(tenant, name="Flo")
    response = await tenant.http.post(
        "/api/v1/events",
        json={"type": "deal.won", "client_id": client["id"], "payload": {"amount": 1200}},
    )
    assert response.status_code == 201, response.text
    await one_execution(tenant, wf)
    [seen] = receiver.app.at(path)
    assert json.loads(seen.body) == {
        "client_id": client["id"], "client": "Flo", "amount": "1200", "deal": "",
    }  # fmt: skip
    assert "customer" in await tags_of(client["id"])


async def run_high_value(tenant: TenantCtx, **_: Any) -> None:
    wf = await instantiate(tenant, "high-value-order")
    client = await create_client(tenant, name="Gus")
    for amount in (10, 1500):
        response = await tenant.http.post(
            "/api/v1/events",
            json={"type": "order.paid", "client_id": client["id"], "payload": {"amount": amount}},
        )
        assert response.status_code == 201, response.text
    await one_execution(tenant, wf)  # the small order started nothing
    assert "high-value" in await tags_of(client["id"])
    assert [t["title"] for t in await tasks_of(tenant)] == ["Thank Gus for the 1500 order"]


async def run_hubspot_form(tenant: TenantCtx, *, anon: httpx.AsyncClient, **_: Any) -> None:
    wf = await instantiate(tenant, "hubspot-form-lead")
    secret = "hubspot-app-" + os.urandom(4).hex()
    source = await tenant.http.post(
        "/api/v1/webhook-sources",
        json={"source": "hubspot", "hubspot": {"client_secret": secret}},
    )
    assert source.status_code == 201, source.text
    path = source.json()["path"]
    submission = {
        "formId": "f-1",
        "conversionId": "c-1",
        "submittedAt": 1732464000000,
        "fields": [{"name": "email", "value": "lead@example.test"}],
    }
    body, headers = hubspot_request(secret, str(anon.base_url).rstrip("/") + path, [submission])
    response = await anon.post(path, content=body, headers=headers)
    assert response.status_code == 202, response.text
    await one_execution(tenant, wf)
    assert [(t["title"], t["client"]) for t in await tasks_of(tenant)] == [
        ("Answer the form from lead@example.test", None)
    ]


async def run_reactivation(tenant: TenantCtx, *, sink: SmtpSink, **_: Any) -> None:
    wf = await instantiate(tenant, "reactivation")
    client = await create_client(tenant, name="Hal", email=unique_address("hal"))
    for status in ("ACTIVE", "INACTIVE", "ACTIVE"):
        await set_status(tenant, client["id"], status)
    await one_execution(tenant, wf)  # LEAD -> ACTIVE started nothing
    assert await notes_of(client["id"]) == ["Reactivated."]
    assert "reactivated" in await tags_of(client["id"])
    assert await approve_and_receive(tenant, sink, client["id"]) == ["Welcome back, Hal"]


RUNS: dict[str, Callable[..., Awaitable[None]]] = {
    "vip-welcome": run_vip_welcome,
    "onboarding-on-active": run_onboarding,
    "document-review": run_document_review,
    "churn-follow-up": run_churn,
    "stale-lead-nudge": run_stale_lead,
    "erp-won-deal": run_erp,
    "high-value-order": run_high_value,
    "hubspot-form-lead": run_hubspot_form,
    "reactivation": run_reactivation,
}


def test_every_shipped_template_has_an_end_to_end_run() -> None:
    assert len(TEMPLATES) >= 8
    assert set(RUNS) == {t.key for t in TEMPLATES}


@pytest.mark.parametrize("key", list(RUNS))
async def test_shipped_template_saves_and_runs_end_to_end(
    key: str,
    tenant: TenantCtx,
    anon: httpx.AsyncClient,
    session_receiver: Receiver,  # noqa: F811
    session_sink: SmtpSink,  # noqa: F811
) -> None:
    await RUNS[key](tenant, receiver=session_receiver, anon=anon, sink=session_sink)


async def test_templates_are_listed_and_a_tenant_can_make_its_own(tenant: TenantCtx) -> None:
    listed = (await tenant.http.get("/api/v1/workflow-templates")).json()["items"]
    shipped = [t for t in listed if t["source"] == "shipped"]
    assert len(shipped) >= 8
    assert {"vip-welcome", "stale-lead-nudge", "erp-won-deal"} <= {t["key"] for t in shipped}
    assert all(t["runs_on"] and t["actions"] for t in shipped)

    own = await tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": "Our house style",
            "trigger_type": "CLIENT_CREATED",
            "actions": [{"type": "ADD_TAG", "config": {"tag": "house"}}],
        },
    )
    assert own.status_code == 201, own.text
    marked = await tenant.http.patch(
        f"/api/v1/workflows/{own.json()['id']}", json={"is_template": True}
    )
    assert marked.status_code == 200, marked.text
    assert marked.json()["is_template"] is True
    assert marked.json()["version"] == 1  # not a definition change
    listed = (await tenant.http.get("/api/v1/workflow-templates")).json()["items"]
    [mine] = [t for t in listed if t["source"] == "tenant"]
    assert mine["key"] == own.json()["id"]
    copy = await tenant.http.post(
        "/api/v1/workflows", json={"from_template": mine["key"], "name": "Copy"}
    )
    assert copy.status_code == 201, copy.text
    assert copy.json()["name"] == "Copy"
    assert copy.json()["actions"] == own.json()["actions"]
    assert copy.json()["is_template"] is False

    unknown = await tenant.http.post("/api/v1/workflows", json={"from_template": "nope"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["path"] == "$.from_template"


async def test_versions_are_kept_diffed_and_restored(tenant: TenantCtx) -> None:
    created = await tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": "Versioned",
            "trigger_type": "CLIENT_STATUS_CHANGED",
            "trigger_config": {"to": "ACTIVE"},
            "actions": [{"type": "ADD_NOTE", "config": {"body": "one"}}],
        },
    )
    assert created.status_code == 201, created.text
    wf = created.json()["id"]
    url = f"/api/v1/workflows/{wf}"
    await tenant.http.patch(
        url, json={"actions": [{"type": "ADD_NOTE", "config": {"body": "two"}}]}
    )
    await tenant.http.patch(url, json={"trigger_config": {"to": "CHURNED"}})
    await tenant.http.patch(url, json={"name": "Renamed"})  # no new version

    versions = (await tenant.http.get(f"{url}/versions")).json()
    assert versions["current_version"] == 3
    assert [v["version"] for v in versions["items"]] == [3, 2, 1]
    assert versions["items"][2]["actions"][0]["config"]["body"] == "one"
    one = (await tenant.http.get(f"{url}/versions/1")).json()
    assert one["trigger_config"] == {"to": "ACTIVE"}

    diff = (await tenant.http.get(f"{url}/versions/diff", params={"from": 1, "to": 3})).json()
    changes = {c["path"]: (c["before"], c["after"]) for c in diff["changes"]}
    assert changes == {
        "$.trigger_config.to": ("ACTIVE", "CHURNED"),
        "$.actions[0].config.body": ("one", "two"),
    }

    restored = await tenant.http.post(f"{url}/versions/1/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["version"] == 4
    assert restored.json()["trigger_config"] == {"to": "ACTIVE"}
    assert restored.json()["actions"][0]["config"]["body"] == "one"
    assert restored.json()["name"] == "Renamed"
    versions = (await tenant.http.get(f"{url}/versions")).json()
    assert versions["items"][0]["restored_from"] == 1
    again = await tenant.http.post(f"{url}/versions/4/restore")
    assert again.status_code == 409
    missing = await tenant.http.get(f"{url}/versions/9")
    assert missing.status_code == 404


async def test_export_and_import_into_another_tenant(tenant: TenantCtx, other: TenantCtx) -> None:
    admin_email = await fetchval("SELECT email FROM users WHERE id = $1", tenant.admin_id)
    a = await tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": "Assign to Ada",
            "trigger_type": "CLIENT_CREATED",
            "actions": [
                {"type": "CREATE_TASK", "config": {"title": "t", "assignee": str(tenant.admin_id)}},
                {
                    "type": "WEBHOOK",
                    "config": {
                        "url": "https://erp.example.com/x",
                        "secret": "whsec_" + "QUJD" * 8,
                        "headers": {"Authorization": "Bearer s3cret"},
                    },
                },
            ],
        },
    )
    assert a.status_code == 201, a.text
    b = await instantiate(tenant, "vip-welcome")
    exported = await tenant.http.get("/api/v1/workflows/export")
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["format"] == "crmflow.workflows/1"
    assert document["ids"] == [a.json()["id"], b["id"]]
    text = exported.text
    assert "s3cret" not in text
    assert "QUJD" not in text
    assert document["secrets_removed"] == [
        "$.workflows[0].actions[1].config.secret",
        "$.workflows[0].actions[1].config.headers.Authorization",
    ]
    assert document["users"] == {str(tenant.admin_id): admin_email}
    only_b = await tenant.http.get("/api/v1/workflows/export", params={"id": b["id"]})
    assert only_b.json()["ids"] == [b["id"]]

    # The second tenant has a user with the same email: assignees map to them.
    same = await other.http.post(
        "/api/v1/users", json={"email": admin_email, "name": "Ada too", "role": "member"}
    )
    assert same.status_code == 201, same.text

    # An export with a broken workflow imports nothing and names every problem.
    broken = json.loads(text)
    broken["workflows"][1]["actions"][0]["config"].pop("to")
    broken["workflows"][1]["conditions"] = {"field": "client.acount_manager", "operator": "exists"}
    refused = await other.http.post("/api/v1/workflows/import", json=broken)
    assert refused.status_code == 422, refused.text
    paths = {e["path"] for e in refused.json()["errors"]}
    assert paths == {"$.workflows[1].actions[0].config.to", "$.workflows[1].conditions.field"}
    count = await fetchval("SELECT count(*) FROM workflows WHERE tenant = $1", other.tenant_id)
    assert count == 0

    imported = await other.http.post("/api/v1/workflows/import", json=document)
    assert imported.status_code == 201, imported.text
    result = imported.json()
    new_ids = [w["id"] for w in result["items"]]
    assert result["id_map"] == dict(zip([a.json()["id"], b["id"]], new_ids, strict=True))
    assert not set(new_ids) & {a.json()["id"], b["id"]}
    assert all(w["is_active"] is False for w in result["items"])
    assert result["items"][0]["actions"][0]["config"]["assignee"] == same.json()["id"]
    assert "secret" not in result["items"][0]["actions"][1]["config"]
    assert result["items"][1]["name"] == "VIP welcome"
    # The first tenant's workflows are untouched and invisible to the second.
    mine = await other.http.get(f"/api/v1/workflows/{a.json()['id']}")
    assert mine.status_code == 404
