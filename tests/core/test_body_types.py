"""Request bodies are typed as the OpenAPI document says, not as Litestar's lax conversion reads
them: "60" is not an integer, "true" not a boolean, a Unix time not a date-time (each a 422 on its
field, nothing written); 60.0 is an integer (JSON Schema's "integer" includes it)."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.sql import fetchval
from tests.conftest import TenantCtx
from tests.helpers import assert_problem


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        ({"grace_s": "60"}, "$.grace_s", "`str`"),
        ({"grace_s": 60.5}, "$.grace_s", "`float`"),
        ({"grace_s": True}, "$.grace_s", "`bool`"),
    ],
)
async def test_lax_scalars_are_refused_on_their_field(
    tenant: TenantCtx, body: dict[str, Any], path: str, expected: str
) -> None:
    created = await tenant.http.post("/api/v1/webhook-sources", json={"source": "erp"})
    assert created.status_code == 201, created.text
    before = await fetchval(
        "SELECT secret_encrypted FROM inbound_webhook_sources WHERE id = $1::uuid",
        created.json()["id"],
    )
    response = await tenant.http.post("/api/v1/webhook-sources/erp/rotate", json=body)
    problem = assert_problem(response, 422)
    [error] = problem["errors"]
    assert error["path"] == path
    assert expected in error["message"]
    after = await fetchval(
        "SELECT secret_encrypted FROM inbound_webhook_sources WHERE id = $1::uuid",
        created.json()["id"],
    )
    assert after == before  # nothing rotated


async def test_integral_floats_are_integers_and_dates_are_strings(tenant: TenantCtx) -> None:
    created = await tenant.http.post("/api/v1/webhook-sources", json={"source": "erp"})
    assert created.status_code == 201, created.text
    rotated = await tenant.http.post("/api/v1/webhook-sources/erp/rotate", json={"grace_s": 60.0})
    assert rotated.status_code == 200, rotated.text

    unix_time = await tenant.http.post(
        "/api/v1/executions/bulk/cancel", json={"filter": {"created_after": 1700000000}}
    )
    problem = assert_problem(unix_time, 422)
    assert [e["path"] for e in problem["errors"]] == ["$.filter.created_after"]
    text_count = await tenant.http.post(
        "/api/v1/executions/bulk/cancel", json={"filter": {"status": "RUNNING"}, "confirm": "0"}
    )
    problem = assert_problem(text_count, 422)
    assert [e["path"] for e in problem["errors"]] == ["$.confirm"]
    counted = await tenant.http.post(
        "/api/v1/executions/bulk/cancel", json={"filter": {"status": "RUNNING"}, "confirm": 0.0}
    )
    assert counted.status_code == 200, counted.text

    # Free-form JSON keeps its numbers as sent.
    client = await tenant.http.post(
        "/api/v1/clients", json={"name": "Floaty", "custom_fields": {"a": 1.0, "b": "2"}}
    )
    assert client.status_code == 201, client.text
    assert client.json()["custom_fields"] == {"a": 1.0, "b": "2"}
