"""Nesting in request bodies: one limit for every route that takes free-form JSON, never a 500.

The limit (MAX_JSON_DEPTH, the body itself being level 1) is checked where the body is decoded,
so no route can forget it; a body too deep for the parser at all answers the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from app.core.jsonbody import MAX_JSON_DEPTH
from app.core.sql import fetchval
from tests.conftest import TenantCtx
from tests.helpers import assert_problem, make_client

JSON = {"content-type": "application/json"}
MARK = '"__DEEP__"'


def lists(levels: int) -> str:
    """A JSON value `levels` containers deep: [[...[]...]]."""
    return "[" * levels + "]" * levels


async def _rows(tenant: TenantCtx) -> tuple[int, int, int]:
    counts = []
    for table in ("events", "clients", "workflow_executions"):
        counts.append(
            int(await fetchval(f"SELECT count(*) FROM {table} WHERE tenant = $1", tenant.tenant_id))  # noqa: S608
        )
    return counts[0], counts[1], counts[2]


Route = Callable[[TenantCtx], Awaitable[tuple[str, str, str, str]]]


async def _events(tenant: TenantCtx) -> tuple[str, str, str, str]:
    return (
        "POST",
        "/api/v1/events",
        '{"type": "order.paid", "payload": {"a": ' + MARK + "}}",
        "$.payload",
    )


async def _create_client(tenant: TenantCtx) -> tuple[str, str, str, str]:
    body = '{"name": "Ada", "custom_fields": {"a": ' + MARK + "}}"
    return "POST", "/api/v1/clients", body, "$.custom_fields"


async def _patch_client(tenant: TenantCtx) -> tuple[str, str, str, str]:
    client = await make_client(tenant.http)
    body = '{"custom_fields": {"a": ' + MARK + "}}"
    return "PATCH", f"/api/v1/clients/{client['id']}", body, "$.custom_fields"


async def _manual_workflow(tenant: TenantCtx) -> str:
    response = await tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": "by hand",
            "trigger_type": "MANUAL",
            "is_active": True,
            "actions": [{"type": "ADD_NOTE", "config": {"body": "hi"}}],
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _trigger(tenant: TenantCtx) -> tuple[str, str, str, str]:
    wf = await _manual_workflow(tenant)
    return "POST", f"/api/v1/workflows/{wf}/trigger", '{"input": {"a": ' + MARK + "}}", "$.input"


async def _dry_run(tenant: TenantCtx) -> tuple[str, str, str, str]:
    wf = await _manual_workflow(tenant)
    body = '{"event_payload": {"a": ' + MARK + "}}"
    return "POST", f"/api/v1/workflows/{wf}/test", body, "$.event_payload"


async def _workflow(tenant: TenantCtx) -> tuple[str, str, str, str]:
    body = (
        '{"name": "deep", "trigger_type": "CLIENT_CREATED", "actions": [{"type": "UPDATE_CLIENT", '
        '"config": {"custom_fields": {"a": ' + MARK + "}}}]}"
    )
    return "POST", "/api/v1/workflows", body, "$.actions"


ROUTES: dict[str, Route] = {
    "events": _events,
    "create-client": _create_client,
    "patch-client": _patch_client,
    "trigger": _trigger,
    "dry-run": _dry_run,
    "workflow": _workflow,
}


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH, 995, 5_000])
@pytest.mark.parametrize("route", list(ROUTES))
async def test_too_deep_bodies_are_422_naming_the_field(
    tenant: TenantCtx, route: str, levels: int
) -> None:
    method, url, template, member = await ROUTES[route](tenant)
    before = await _rows(tenant)
    response = await tenant.http.request(
        method, url, content=template.replace(MARK, lists(levels)), headers=JSON
    )
    problem = assert_problem(response, 422)
    # Past what the parser can even decode, the member cannot be known: the body is named.
    assert [e["path"] for e in problem["errors"]] in ([member], ["$"])
    if levels < 900:
        assert problem["errors"][0]["path"] == member
    assert await _rows(tenant) == before


async def test_nesting_up_to_the_limit_is_accepted(tenant: TenantCtx) -> None:
    # body (1) > payload (2) > "a" list (3) ...: the deepest list sits exactly at the limit.
    body = '{"type": "order.paid", "payload": {"a": ' + lists(MAX_JSON_DEPTH - 2) + "}}"
    response = await tenant.http.post("/api/v1/events", content=body, headers=JSON)
    assert response.status_code == 201, response.text
    one_more = '{"type": "order.paid", "payload": {"a": ' + lists(MAX_JSON_DEPTH - 1) + "}}"
    response = await tenant.http.post("/api/v1/events", content=one_more, headers=JSON)
    assert assert_problem(response, 422)["errors"][0]["path"] == "$.payload"


async def test_a_deep_body_on_any_json_route_never_500s(tenant: TenantCtx) -> None:
    """Routes whose bodies have no free-form field still decode through the same bounded path."""
    client = await make_client(tenant.http)
    deep = lists(5_000)
    for method, url in [
        ("POST", "/api/v1/notes"),
        ("POST", "/api/v1/tasks"),
        ("POST", "/api/v1/users"),
        ("POST", "/api/v1/api-keys"),
        ("POST", f"/api/v1/clients/{client['id']}/tags"),
        ("POST", "/api/v1/webhook-sources"),
    ]:
        response: httpx.Response = await tenant.http.request(
            method, url, content=deep, headers=JSON
        )
        assert_problem(response, 422)


@pytest.mark.parametrize(
    "path", ["/api/v1/clients", "/api/v1/events", "/api/v1/executions", "/api/v1/audit-logs"]
)
async def test_a_deeply_nested_cursor_is_422_not_500(tenant: TenantCtx, path: str) -> None:
    """The same class as item 6: a cursor is JSON too (base64). A crafted deep one is refused
    like any other bad cursor (by the cursor's max length, and by its typed decoder behind)."""
    import base64

    deep = b"[" * 5_000 + b"]" * 5_000
    cursor = base64.urlsafe_b64encode(deep).decode().rstrip("=")
    response = await tenant.http.get(path, params={"cursor": cursor})
    assert_problem(response, 422)
    assert "query.cursor" in response.text
