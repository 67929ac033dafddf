"""The workflows API: create/list/get/update/delete, versioning, activation, roles, tenancy."""

from __future__ import annotations

from uuid import uuid4

import httpx

from app.core.sql import fetch
from tests.conftest import TenantCtx
from tests.workflows.conftest import create_workflow, email_action, error_paths, workflow_body

API = "/api/v1/workflows"


async def audit_actions(tenant: TenantCtx, workflow_id: str) -> list[str]:
    rows = await fetch(
        "SELECT action FROM audit_logs WHERE tenant = $1 AND resource_id = $2 ORDER BY created_at",
        tenant.tenant_id,
        workflow_id,
    )
    return [r["action"] for r in rows]


async def test_create_returns_the_stored_workflow(tenant: TenantCtx):
    body = workflow_body(
        description="Greets new leads",
        trigger_config={"status": "LEAD"},
        conditions={"field": "client.tags", "operator": "contains", "value": "vip"},
    )
    response = await tenant.http.post(API, json=body)
    assert response.status_code == 201, response.text
    wf = response.json()
    assert wf["name"] == body["name"]
    assert wf["description"] == "Greets new leads"
    assert wf["trigger_type"] == "CLIENT_CREATED"
    assert wf["trigger_config"] == {"status": "LEAD"}
    # A bare leaf is stored as a one-leaf "all".
    assert wf["conditions"] == {"all": [body["conditions"]]}
    assert wf["actions"][0]["type"] == "SEND_EMAIL"
    assert wf["actions"][0]["config"] == body["actions"][0]["config"]
    assert wf["actions"][0]["retry"] == {"max_attempts": 3, "backoff_s": 1.0, "max_backoff_s": 60.0}
    assert wf["is_active"] is False
    assert wf["version"] == 1
    assert wf["created_by"] == str(tenant.admin_id)

    fetched = await tenant.http.get(f"{API}/{wf['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == wf
    assert await audit_actions(tenant, wf["id"]) == ["create"]


async def test_create_active_when_asked(tenant: TenantCtx):
    wf = await create_workflow(tenant, is_active=True)
    assert wf["is_active"] is True


async def test_create_reports_every_error_with_its_path(tenant: TenantCtx):
    body = {
        "name": "  ",
        "trigger_type": "CLIENT_STATUS_CHANGED",
        "trigger_config": {"to": "WON"},
        "conditions": {
            "all": [
                {"field": "client.status", "operator": "eq", "value": "A"},
                {"field": "client.status", "operator": "similar", "value": "A"},
            ]
        },
        "actions": [
            email_action(),
            {"type": "CREATE_TASK", "config": {"title": "t", "priority": "SOON"}},
            email_action(subject="Hi {{ client.name"),
        ],
    }
    response = await tenant.http.post(API, json=body)
    errors = error_paths(response)
    assert set(errors) == {
        "$.name",
        "$.trigger_config.to",
        "$.conditions.all[1].operator",
        "$.actions[1].config.priority",
        "$.actions[2].config.subject",
    }
    listing = await tenant.http.get(API)
    assert listing.json()["items"] == []  # nothing was written


async def test_create_rejects_bad_bodies(tenant: TenantCtx):
    no_actions = await tenant.http.post(API, json={"name": "x", "trigger_type": "MANUAL"})
    assert "$.actions" in error_paths(no_actions)
    unknown = await tenant.http.post(API, json={**workflow_body(), "colour": "red"})
    assert "$.colour" in error_paths(unknown)
    wrong_name = await tenant.http.post(API, json={**workflow_body(), "name": 5})
    assert "$.name" in error_paths(wrong_name)
    malformed = await tenant.http.post(
        API, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"].startswith("application/problem+json")
    wrong_type = await tenant.http.post(API, json=workflow_body(trigger_type="SOMETIMES"))
    assert "$.trigger_type" in error_paths(wrong_type)
    custom = await tenant.http.post(
        API,
        json=workflow_body(trigger_type="CUSTOM", trigger_config={"event": "DOCUMENT_UPLOADED"}),
    )
    assert "built-in" in error_paths(custom)["$.trigger_config.event"]
    assert (await tenant.http.get(API)).json()["items"] == []


async def test_update_bumps_version_only_for_definition_changes(tenant: TenantCtx):
    wf = await create_workflow(tenant)
    url = f"{API}/{wf['id']}"

    renamed = await tenant.http.patch(url, json={"name": "Renamed", "description": "d"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Renamed"
    assert renamed.json()["version"] == 1

    new_actions = [email_action(subject="Welcome aboard {{ client.name }}")]
    changed = await tenant.http.patch(url, json={"actions": new_actions})
    assert changed.json()["version"] == 2
    assert changed.json()["actions"][0]["config"]["subject"] == "Welcome aboard {{ client.name }}"

    same = await tenant.http.patch(url, json={"actions": new_actions})
    assert same.json()["version"] == 2  # nothing changed

    cond = await tenant.http.patch(
        url, json={"conditions": {"field": "client.status", "operator": "eq", "value": "LEAD"}}
    )
    assert cond.json()["version"] == 3
    trig = await tenant.http.patch(url, json={"trigger_config": {"status": "ACTIVE"}})
    assert trig.json()["version"] == 4
    both = await tenant.http.patch(
        url, json={"trigger_type": "CLIENT_STATUS_CHANGED", "trigger_config": {"to": "ACTIVE"}}
    )
    assert both.json()["version"] == 5
    cleared = await tenant.http.patch(url, json={"conditions": None})
    assert cleared.json()["conditions"] is None
    assert cleared.json()["version"] == 6

    stored = await fetch("SELECT version, name FROM workflows WHERE id = $1", wf["id"])
    assert (stored[0]["version"], stored[0]["name"]) == (6, "Renamed")
    assert (await audit_actions(tenant, wf["id"])).count("update") == 6


async def test_update_validates_against_the_merged_definition(tenant: TenantCtx):
    wf = await create_workflow(tenant, trigger_config={"status": "LEAD"})
    url = f"{API}/{wf['id']}"
    # Switching trigger type keeps the old config, which the new type does not accept.
    response = await tenant.http.patch(url, json={"trigger_type": "CLIENT_STATUS_CHANGED"})
    assert "$.trigger_config.status" in error_paths(response)
    bad = await tenant.http.patch(
        url, json={"name": "", "actions": [{"type": "ADD_NOTE", "config": {"body": "{{ x"}}]}
    )
    assert set(error_paths(bad)) == {"$.name", "$.actions[0].config.body"}
    after = (await tenant.http.get(url)).json()
    assert after == wf  # unchanged


async def test_activate_and_deactivate(tenant: TenantCtx):
    wf = await create_workflow(tenant)
    url = f"{API}/{wf['id']}"
    on = await tenant.http.post(f"{url}/activate")
    assert on.status_code == 200
    assert on.json()["is_active"] is True
    assert on.json()["version"] == 1
    again = await tenant.http.post(f"{url}/activate")
    assert again.json()["is_active"] is True
    off = await tenant.http.post(f"{url}/deactivate")
    assert off.json()["is_active"] is False
    assert (await tenant.http.get(url)).json()["is_active"] is False
    assert await audit_actions(tenant, wf["id"]) == [
        "create",
        "activate",
        "deactivate",
    ]


async def test_delete(tenant: TenantCtx):
    wf = await create_workflow(tenant)
    url = f"{API}/{wf['id']}"
    response = await tenant.http.delete(url)
    assert response.status_code == 204
    assert (await tenant.http.get(url)).status_code == 404
    assert (await tenant.http.delete(url)).status_code == 404
    assert await audit_actions(tenant, wf["id"]) == ["create", "delete"]


async def test_member_reads_but_cannot_write(tenant: TenantCtx, member: httpx.AsyncClient):
    wf = await create_workflow(tenant)
    url = f"{API}/{wf['id']}"
    assert (await member.get(API)).status_code == 200
    assert (await member.get(url)).status_code == 200
    for response in [
        await member.post(API, json=workflow_body()),
        await member.patch(url, json={"name": "x"}),
        await member.delete(url),
        await member.post(f"{url}/activate"),
        await member.post(f"{url}/deactivate"),
        await member.post(f"{url}/trigger", json={}),
    ]:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    after = (await tenant.http.get(url)).json()
    assert after == wf
    assert len((await tenant.http.get(API)).json()["items"]) == 1


async def test_other_tenants_workflows_are_404(tenant: TenantCtx, other_tenant: TenantCtx):
    wf = await create_workflow(tenant)
    url = f"{API}/{wf['id']}"
    http = other_tenant.http
    assert (await http.get(url)).status_code == 404
    assert (await http.patch(url, json={"name": "mine"})).status_code == 404
    assert (await http.delete(url)).status_code == 404
    assert (await http.post(f"{url}/activate")).status_code == 404
    assert (await http.post(f"{url}/test", json={})).status_code == 404
    assert (await http.post(f"{url}/trigger", json={})).status_code == 404
    assert (await http.get(API)).json()["items"] == []
    assert (await tenant.http.get(url)).json() == wf
    assert (await tenant.http.get(f"{API}/{uuid4()}")).status_code == 404


async def test_anonymous_is_401(tenant: TenantCtx, anon: httpx.AsyncClient):
    assert (await anon.get(API)).status_code == 401
    assert (await anon.post(API, json=workflow_body())).status_code == 401


async def test_list_filters_sorting_and_pages(tenant: TenantCtx):
    a = await create_workflow(tenant, name="Alpha onboarding", is_active=True)
    b = await create_workflow(
        tenant,
        name="Beta churn",
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config={"to": "CHURNED"},
    )
    c = await create_workflow(tenant, name="Gamma 100%_off", trigger_type="MANUAL")

    def names(response):
        assert response.status_code == 200, response.text
        return [w["name"] for w in response.json()["items"]]

    assert names(await tenant.http.get(API)) == [c["name"], b["name"], a["name"]]
    assert names(await tenant.http.get(API, params={"sort": "created_at"})) == [
        a["name"],
        b["name"],
        c["name"],
    ]
    assert names(await tenant.http.get(API, params={"sort": "-name"})) == [
        c["name"],
        b["name"],
        a["name"],
    ]
    assert names(await tenant.http.get(API, params={"trigger_type": "MANUAL"})) == [c["name"]]
    assert names(await tenant.http.get(API, params={"is_active": "true"})) == [a["name"]]
    assert names(await tenant.http.get(API, params={"is_active": "false", "sort": "name"})) == [
        b["name"],
        c["name"],
    ]
    assert names(await tenant.http.get(API, params={"q": "CHURN"})) == [b["name"]]
    assert names(await tenant.http.get(API, params={"q": "%_"})) == [c["name"]]
    assert names(
        await tenant.http.get(API, params={"created_after": b["created_at"], "sort": "created_at"})
    ) == [b["name"], c["name"]]
    assert names(await tenant.http.get(API, params={"created_before": b["created_at"]})) == [
        a["name"]
    ]

    for sort in ("name", "-created_at", "updated_at"):
        seen, cursor = [], None
        while True:
            params = {"limit": 1, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = (await tenant.http.get(API, params=params)).json()
            seen += [w["id"] for w in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted([a["id"], b["id"], c["id"]])
        assert len(seen) == 3

    assert (await tenant.http.get(API, params={"trigger_type": "SOMETIMES"})).status_code == 422
    assert (await tenant.http.get(API, params={"cursor": "garbage"})).status_code == 422
    assert (await tenant.http.get(API, params={"limit": 0})).status_code == 422
    assert (await tenant.http.get(API, params={"sort": "size"})).status_code == 422
