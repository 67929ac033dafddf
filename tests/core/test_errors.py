"""Bad input: problem+json with the right status, never a 500, and nothing changed."""

from __future__ import annotations

import pytest

from tests.conftest import TenantCtx
from tests.helpers import all_pages, assert_problem, make_client

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "body", [b"{bad", b'{"name": "x",}', b"\xff\xfe", b'{"name": "\xff"}', b"", b"nul\x00"]
)
async def test_malformed_json_is_400(tenant: TenantCtx, body: bytes) -> None:
    response = await tenant.http.post("/api/v1/clients", content=body, headers=JSON)
    assert_problem(response, 400)
    assert await all_pages(tenant.http, "/api/v1/clients") == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": 5}, "$.name"),
        ({}, "$.name"),
        ({"name": "x", "status": "NOPE"}, "$.status"),
        ({"name": "x", "tags": ["ok", 3]}, "$.tags[1]"),
        ({"name": "x", "tags": [""]}, "$.tags[0]"),
        ({"name": "x", "unknown": 1}, "$.unknown"),
        ({"name": "x", "owner_id": "not-a-uuid"}, "$.owner_id"),
        ({"name": "x", "email": "no-at-sign"}, "$.email"),
        ({"name": "x" * 201}, "$.name"),
        ([], "$"),
    ],
)
async def test_invalid_body_is_422_with_the_field_path(
    tenant: TenantCtx, body: object, path: str
) -> None:
    response = await tenant.http.post("/api/v1/clients", json=body)
    problem = assert_problem(response, 422)
    assert [e["path"] for e in problem["errors"]] == [path]
    assert problem["errors"][0]["message"]
    assert await all_pages(tenant.http, "/api/v1/clients") == []


async def test_nested_paths_in_patch_bodies(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http)
    response = await tenant.http.patch(
        f"/api/v1/clients/{client['id']}", json={"tags": ["a", {"b": 1}]}
    )
    assert assert_problem(response, 422)["errors"][0]["path"] == "$.tags[1]"
    null_name = await tenant.http.patch(f"/api/v1/clients/{client['id']}", json={"name": None})
    assert assert_problem(null_name, 422)["errors"][0]["path"] == "$.name"


async def test_nul_characters_are_refused_without_a_500(tenant: TenantCtx) -> None:
    response = await tenant.http.post(
        "/api/v1/clients", json={"name": "x", "custom_fields": {"k": "a\u0000b"}}
    )
    assert_problem(response, 422)
    assert await all_pages(tenant.http, "/api/v1/clients") == []


async def test_unknown_and_malformed_ids_in_paths(tenant: TenantCtx) -> None:
    unknown = "3f1c7a52-8c1e-4a51-9a53-0d4d7c7d0c11"
    for resource in ("clients", "notes", "tasks", "documents", "users", "api-keys"):
        assert_problem(await tenant.http.get(f"/api/v1/{resource}/{unknown}"), 404)
        malformed = await tenant.http.get(f"/api/v1/{resource}/not-a-uuid")
        errors = assert_problem(malformed, 422)["errors"]
        assert len(errors) == 1
        assert errors[0]["path"].startswith("path.")
    assert_problem(await tenant.http.patch(f"/api/v1/clients/{unknown}", json={"name": "x"}), 404)


async def test_wrong_method_and_unknown_route(tenant: TenantCtx) -> None:
    assert_problem(await tenant.http.put("/api/v1/clients"), 405)
    assert_problem(await tenant.http.get("/api/v1/nothing-here"), 404)


async def test_query_parameter_errors_name_the_parameter(tenant: TenantCtx) -> None:
    response = await tenant.http.get("/api/v1/tasks", params={"priority": "SOON"})
    assert assert_problem(response, 422)["errors"][0]["path"] == "query.priority"


async def test_odd_query_values_never_500(tenant: TenantCtx) -> None:
    await make_client(tenant.http, name="Naive")
    for params in (
        {"created_after": "2020-01-01T00:00:00"},
        {"created_before": "2999-12-31T23:59:59+14:00"},
        {"q": "a\u0000b"},
        {"q": "%_\\"},
        {"tag": ["", " "]},
        {"limit": "99999999999999999999"},
    ):
        response = await tenant.http.get("/api/v1/clients", params=params)
        assert response.status_code < 500, (params, response.text)
    naive = await tenant.http.get(
        "/api/v1/clients", params={"created_after": "2020-01-01T00:00:00"}
    )
    assert [c["name"] for c in naive.json()["items"]] == ["Naive"]
    events = await tenant.http.get("/api/v1/events", params={"type": "x\u0000"})
    assert events.status_code < 500


async def test_odd_uploads_never_500(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http)
    url = f"/api/v1/clients/{client['id']}/documents"
    no_boundary = await tenant.http.post(
        url, content=b"--x\r\n", headers={"content-type": "multipart/form-data"}
    )
    assert 400 <= no_boundary.status_code < 500
    garbage = await tenant.http.post(
        url, content=b"garbage", headers={"content-type": "multipart/form-data; boundary=zz"}
    )
    assert 400 <= garbage.status_code < 500
    two = await tenant.http.post(url, files=[("file", ("a", b"a")), ("file", ("b", b"b"))])
    assert two.status_code < 500
    weird = await tenant.http.post(
        url, files={"file": ("..\\..\\evil.txt", b"x", "text/plain; charset=utf-8")}
    )
    assert weird.status_code == 201, weird.text
    assert weird.json()["filename"] == "evil.txt"
    assert weird.json()["content_type"] == "text/plain"
    long_key = await tenant.http.post(
        "/api/v1/events", json={"type": "x"}, headers={"Idempotency-Key": "k" * 201}
    )
    assert assert_problem(long_key, 422)["errors"][0]["path"].startswith("header.")


async def test_misspelt_query_parameter_is_422(tenant: TenantCtx) -> None:
    await make_client(tenant.http)
    response = await tenant.http.get("/api/v1/clients", params={"stauts": "ACTIVE"})
    assert assert_problem(response, 422)["errors"] == [
        {"path": "query.stauts", "message": "unknown parameter"}
    ]
    ok = await tenant.http.get("/api/v1/clients", params={"status": "LEAD", "tag": ["a", "b"]})
    assert ok.status_code == 200
