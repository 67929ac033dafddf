"""Hostile inbound deliveries (no API key needed to send them): always a 4xx, nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.core.jsonbody import MAX_JSON_DEPTH
from app.core.sql import fetchval
from app.webhooks.signing import compute_signature
from tests.conftest import TenantCtx
from tests.webhooks.conftest import signed


async def _written(tenant: TenantCtx) -> tuple[int, int]:
    deliveries = await fetchval(
        "SELECT count(*) FROM inbound_deliveries WHERE tenant = $1", tenant.tenant_id
    )
    events = await fetchval("SELECT count(*) FROM events WHERE tenant = $1", tenant.tenant_id)
    return int(deliveries), int(events)


# Each is str.isdigit() but no ASCII integer: int() refuses '²' and reads Arabic-Indic digits.
@pytest.mark.parametrize(
    "timestamp", ["\u00b2", "1\u00b2", "\u0661\u0667" + "\u0660" * 8, "\U0001d7cf" * 10]
)
async def test_non_ascii_digit_timestamps_are_401(
    tenant: TenantCtx, anon: httpx.AsyncClient, source: dict[str, Any], timestamp: str
) -> None:
    raw, headers = signed(source["secret"], {"event": "deal.won", "data": {}})
    headers["X-Crmflow-Timestamp"] = timestamp
    # Even correctly signed over that timestamp: it is not a unix time.
    headers["X-Crmflow-Signature"] = compute_signature(source["secret"], timestamp, raw)
    encoded = {k: v.encode() for k, v in headers.items()}
    response = await anon.post(source["path"], content=raw, headers=encoded)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await _written(tenant) == (0, 0)


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH, 995, 5_000])
async def test_deeply_nested_signed_deliveries_are_422(
    tenant: TenantCtx, anon: httpx.AsyncClient, source: dict[str, Any], levels: int
) -> None:
    body = b'{"event": "deal.won", "data": {"a": ' + b"[" * levels + b"]" * levels + b"}}"
    raw, headers = signed(source["secret"], body)
    response = await anon.post(source["path"], content=raw, headers=headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["errors"][0]["path"] in ("$.data", "$")
    if levels < 900:
        assert problem["errors"][0]["path"] == "$.data"
    assert await _written(tenant) == (0, 0)
