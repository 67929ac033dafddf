"""One rule for ids, checked over every route of the OpenAPI document.

- A malformed id anywhere (path, query, body) → 422 problem+json naming it (`path.client_id`,
  `query.client`, `$.client_id`).
- A well-formed id in the path of a row that does not exist (or is another tenant's) → 404
  problem+json.
- A well-formed id in a body that refers to another resource that does not exist → 422 with the
  field's path. Ids in query filters only filter: an unknown one gives an empty page.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.conftest import TenantCtx
from tests.helpers import assert_problem, make_client

_PARAM = re.compile(r"\{([^}]+)\}")


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    return schema


def minimal(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The smallest value the schema accepts (required members only)."""
    schema = _resolve(spec, schema)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [_resolve(spec, s) for s in schema[key]]
            non_null = [s for s in options if s.get("type") != "null"]
            return minimal(spec, (non_null or options)[0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: minimal(spec, props[name]) for name in schema.get("required", [])}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(uuid4())
    if fmt == "email":
        return "someone@example.test"
    if fmt == "date-time":
        return "2030-01-01T00:00:00Z"
    return "x" * max(1, int(schema.get("minLength", 1)))


def id_routes(spec: dict[str, Any]) -> list[tuple[str, str, list[str], dict[str, Any]]]:
    """(method, path template, uuid path parameters, operation) for every route with a path id."""
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            ids = [
                p["name"]
                for p in op.get("parameters", [])
                if p["in"] == "path" and _resolve(spec, p.get("schema", {})).get("format") == "uuid"
            ]
            if ids:
                found.append((method.upper(), path, ids, op))
    return found


def _request_kwargs(spec: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    # Required query parameters get a valid value, so only the path id can be wrong.
    query = {
        p["name"]: minimal(spec, p.get("schema", {}))
        for p in op.get("parameters", [])
        if p.get("in") == "query" and p.get("required")
    }
    if query:
        kwargs["params"] = query
    content = op.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        kwargs["files"] = {"file": ("a.txt", b"hello", "text/plain")}
    elif "application/json" in content:
        kwargs["json"] = minimal(spec, content["application/json"]["schema"])
    return kwargs


def _fill(path: str, values: dict[str, str]) -> str:
    return _PARAM.sub(lambda m: values.get(m.group(1), "x"), path)


async def test_every_path_id_route_answers_422_malformed_and_404_unknown(
    tenant: TenantCtx,
) -> None:
    spec = (await tenant.http.get("/schema/openapi.json")).json()
    routes = id_routes(spec)
    assert len(routes) >= 20, [r[:2] for r in routes]  # the walk really covers the API
    failures = []
    for method, path, ids, op in routes:
        kwargs = _request_kwargs(spec, op)
        unknown = {name: str(uuid4()) for name in ids}
        response = await tenant.http.request(method, _fill(path, unknown), **kwargs)
        if response.status_code != 404 or not response.headers.get("content-type", "").startswith(
            "application/problem+json"
        ):
            failures.append(f"{method} {path} unknown id: {response.status_code} {response.text}")
        for name in ids:
            malformed = {**unknown, name: "not-a-uuid"}
            response = await tenant.http.request(method, _fill(path, malformed), **kwargs)
            ok = response.status_code == 422 and response.headers.get(
                "content-type", ""
            ).startswith("application/problem+json")
            if not ok or f"path.{name}" not in [e["path"] for e in response.json()["errors"]]:
                failures.append(f"{method} {path} malformed {name}: {response.text}")
    assert not failures, "\n".join(failures)


async def test_another_tenants_id_in_a_path_is_404(tenant: TenantCtx, other: TenantCtx) -> None:
    foreign = await make_client(other.http, name="Eve")
    for method, url in [
        ("GET", f"/api/v1/clients/{foreign['id']}"),
        ("DELETE", f"/api/v1/clients/{foreign['id']}"),
        ("GET", f"/api/v1/documents?client={foreign['id']}"),
    ]:
        response = await tenant.http.request(method, url)
        if "?" in url:
            assert response.status_code == 200
            assert response.json()["items"] == []
        else:
            assert_problem(response, 404)


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/events", {"type": "order.paid"}, "$.client_id"),
        ("/api/v1/notes", {"body": "hi"}, "$.client_id"),
        ("/api/v1/tasks", {"title": "call"}, "$.client_id"),
        ("/api/v1/tasks", {"title": "call"}, "$.assignee_id"),
        ("/api/v1/clients", {"name": "Ada"}, "$.owner_id"),
        ("/api/v1/api-keys", {"name": "k"}, "$.user_id"),
    ],
)
async def test_unknown_ids_in_bodies_are_422_naming_the_field(
    tenant: TenantCtx, other: TenantCtx, url: str, body: dict[str, Any], field: str
) -> None:
    foreign_client = await make_client(other.http, name="Eve")
    foreign_ids = {"$.client_id": foreign_client["id"], "$.owner_id": str(other.admin_id)}
    member = field.removeprefix("$.")
    for value in (str(uuid4()), foreign_ids.get(field, str(other.admin_id))):
        response = await tenant.http.post(url, json={**body, member: value})
        problem = assert_problem(response, 422)
        assert field in [e["path"] for e in problem["errors"]], problem
    malformed = await tenant.http.post(url, json={**body, member: "not-a-uuid"})
    assert field in [e["path"] for e in assert_problem(malformed, 422)["errors"]]


async def test_malformed_ids_in_queries_are_422_and_unknown_ones_filter(
    tenant: TenantCtx,
) -> None:
    for url, param in [
        ("/api/v1/events", "client"),
        ("/api/v1/documents", "client"),
        ("/api/v1/tasks", "assignee"),
        ("/api/v1/clients", "owner"),
        ("/api/v1/executions", "client"),
        ("/api/v1/executions", "workflow"),
        ("/api/v1/emails", "client"),
    ]:
        bad = await tenant.http.get(url, params={param: "not-a-uuid"})
        assert f"query.{param}" in [e["path"] for e in assert_problem(bad, 422)["errors"]]
        unknown: httpx.Response = await tenant.http.get(url, params={param: str(uuid4())})
        assert unknown.status_code == 200, unknown.text
        assert unknown.json()["items"] == []
