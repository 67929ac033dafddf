"""Every list route answers an undeclared query parameter with 422 naming it (walks the OpenAPI).

`GET /executions?client_id=…` once returned every execution of the tenant: a filter the route does
not know must never be silently ignored.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import TenantCtx
from tests.helpers import assert_problem


def list_routes(spec: dict[str, Any]) -> list[str]:
    """Every /api/v1 GET without path parameters whose answer is a page (`next_cursor`)."""
    found = []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path or not path.startswith("/api/v1/"):
            continue
        schema = get["responses"]["200"]["content"]["application/json"]["schema"]
        name = schema["$ref"].rsplit("/", 1)[1] if "$ref" in schema else ""
        properties = spec["components"]["schemas"].get(name, {}).get("properties", {})
        if "next_cursor" in properties:
            found.append(path)
    return found


async def test_every_list_route_rejects_an_unknown_query_parameter(tenant: TenantCtx) -> None:
    spec = (await tenant.http.get("/schema/openapi.json")).json()
    routes = list_routes(spec)
    expected = {"clients", "documents", "notes", "tasks", "events", "audit-logs", "users"}
    expected |= {"api-keys", "workflows", "executions", "emails"}
    assert {r.strip("/").rsplit("/", 1)[-1] for r in routes} >= expected, routes
    for path in routes:
        response = await tenant.http.get(path, params={"no_such_filter": "1", "limit": "5"})
        assert assert_problem(response, 422)["errors"] == [
            {"path": "query.no_such_filter", "message": "unknown parameter"}
        ], path
        assert (await tenant.http.get(path, params={"limit": "5"})).status_code == 200, path


async def test_the_client_filter_has_one_name(tenant: TenantCtx) -> None:
    """`client` filters by client on every listing that has the filter; `client_id` is unknown."""
    spec = (await tenant.http.get("/schema/openapi.json")).json()
    for path in list_routes(spec):
        names = {p["name"] for p in spec["paths"][path]["get"].get("parameters", [])}
        assert "client_id" not in names, path
        assert "workflow_id" not in names, path
    response = await tenant.http.get("/api/v1/executions", params={"client_id": "x"})
    assert assert_problem(response, 422)["errors"][0]["path"] == "query.client_id"


async def test_every_list_route_checks_its_page_parameters(tenant: TenantCtx) -> None:
    """sort, cursor and limit come from one dependency; every listing still validates them."""
    spec = (await tenant.http.get("/schema/openapi.json")).json()
    for path in list_routes(spec):
        names = {p["name"] for p in spec["paths"][path]["get"].get("parameters", [])}
        assert {"sort", "cursor", "limit"} <= names, path
        for params in ({"sort": "bogus"}, {"limit": "0"}, {"cursor": "not a cursor!"}):
            problem = assert_problem(await tenant.http.get(path, params=params), 422)
            [name] = params
            assert [e["path"] for e in problem["errors"]] == [f"query.{name}"], (path, problem)
        newest = await tenant.http.get(path, params={"sort": "-created_at", "limit": "1"})
        assert newest.status_code == 200, (path, newest.text)
