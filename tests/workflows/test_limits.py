"""Oversized or absurdly nested input gets a clear 4xx, never a 500, and writes nothing."""

from __future__ import annotations

import json

from tests.conftest import TenantCtx
from tests.workflows.conftest import create_workflow, error_paths, workflow_body

API = "/api/v1/workflows"


def nested(depth: int) -> str:
    leaf = '{"field": "client.a", "operator": "eq", "value": 1}'
    return '{"not": ' * depth + leaf + "}" * depth


async def post_raw(tenant: TenantCtx, url: str, body: str):
    return await tenant.http.post(url, content=body, headers={"Content-Type": "application/json"})


async def test_deeply_nested_json_is_refused(tenant: TenantCtx):
    template = json.dumps(workflow_body(conditions="__C__"))
    # Too deep for the JSON decoder itself: the same 422 as any body past MAX_JSON_DEPTH.
    response = await post_raw(tenant, API, template.replace('"__C__"', nested(3000)))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    # Decodable, but deeper than any definition needs.
    response = await post_raw(tenant, API, template.replace('"__C__"', nested(900)))
    assert "$.conditions" in error_paths(response)
    deep_fields = json.dumps(
        workflow_body(actions=[{"type": "UPDATE_CLIENT", "config": {"custom_fields": "__C__"}}])
    )
    response = await post_raw(tenant, API, deep_fields.replace('"__C__"', "[" * 900 + "]" * 900))
    assert "$.actions" in error_paths(response)
    assert (await tenant.http.get(API)).json()["items"] == []


async def test_deep_trigger_input_is_refused(tenant: TenantCtx):
    wf = await create_workflow(tenant, trigger_type="MANUAL", is_active=True)
    body = '{"input": {"a": ' + "[" * 900 + "]" * 900 + "}}"
    response = await post_raw(tenant, f"{API}/{wf['id']}/trigger", body)
    assert "$.input" in error_paths(response)
    body = '{"event_payload": {"a": ' + "[" * 900 + "]" * 900 + "}}"
    response = await post_raw(tenant, f"{API}/{wf['id']}/test", body)
    assert "$.event_payload" in error_paths(response)


async def test_long_fields_are_refused(tenant: TenantCtx):
    response = await tenant.http.post(API, json=workflow_body(name="x" * 201))
    assert "$.name" in error_paths(response)
    response = await tenant.http.post(API, json=workflow_body(description="x" * 5001))
    assert "$.description" in error_paths(response)
    too_many = [{"type": "ADD_TAG", "config": {"tag": "t"}}] * 51
    response = await tenant.http.post(API, json=workflow_body(actions=too_many))
    assert "$.actions" in error_paths(response)
    huge = {"type": "ADD_NOTE", "config": {"body": "x" * 20_001}}
    response = await tenant.http.post(API, json=workflow_body(actions=[huge]))
    assert "$.actions[0].config.body" in error_paths(response)
