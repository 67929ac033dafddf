"""Inbound webhooks through the real app: signatures, freshness, dedup, size, secrets at rest."""

from __future__ import annotations

import time
from typing import Any

import httpx

from app.core.sql import fetch, fetchrow, fetchval
from tests.conftest import TenantCtx, client_for
from tests.webhooks.conftest import signed


async def _counts(tenant: TenantCtx) -> tuple[int, int]:
    deliveries = await fetchval(
        "SELECT count(*) FROM inbound_deliveries WHERE tenant = $1", tenant.tenant_id
    )
    events = await fetchval("SELECT count(*) FROM events WHERE tenant = $1", tenant.tenant_id)
    return int(deliveries), int(events)


async def test_a_signed_delivery_becomes_one_custom_event(
    tenant: TenantCtx, anon: httpx.AsyncClient, source: dict[str, Any]
) -> None:
    body = {"event": "deal.won", "data": {"amount": 1200, "currency": "EUR"}}
    raw, headers = signed(source["secret"], body, delivery_id="dlv-001")
    response = await anon.post(source["path"], content=raw, headers=headers)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["duplicate"] is False
    assert accepted["delivery_id"] == "dlv-001"
    event = await fetchrow(
        "SELECT type, payload::text AS payload, tenant FROM events WHERE id = $1::uuid",
        accepted["event_id"],
    )
    assert event is not None
    assert event["type"] == "deal.won"
    assert event["tenant"] == tenant.tenant_id
    assert '"amount": 1200' in event["payload"]

    # The sender retries the same delivery (e.g. it missed our answer): acknowledged, dropped.
    again = await anon.post(source["path"], content=raw, headers=headers)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["event_id"] == accepted["event_id"]
    assert await _counts(tenant) == (1, 1)


async def test_rejected_deliveries_write_nothing(
    tenant: TenantCtx, anon: httpx.AsyncClient, source: dict[str, Any]
) -> None:
    secret, path = source["secret"], source["path"]
    body = {"event": "deal.won", "data": {}}
    cases: list[tuple[int, bytes, dict[str, str]]] = []

    raw, headers = signed("not-the-secret", body)
    cases.append((401, raw, headers))  # wrong secret
    raw, headers = signed(secret, body)
    cases.append((401, raw + b" ", headers))  # body changed after signing
    raw, headers = signed(secret, body, now=time.time() - 3600)
    cases.append((401, raw, headers))  # stale: a replay of an old delivery
    raw, headers = signed(secret, body, now=time.time() + 3600)
    cases.append((401, raw, headers))  # from the future
    raw, headers = signed(secret, body)
    cases.append((401, raw, {k: v for k, v in headers.items() if "Signature" not in k}))
    raw, headers = signed(secret, body)
    cases.append((401, raw, {**headers, "X-Crmflow-Timestamp": "yesterday"}))
    raw, headers = signed(secret, b"{not json")
    cases.append((400, raw, headers))  # malformed
    raw, headers = signed(secret, {"data": {}})
    cases.append((422, raw, headers))  # no event name
    raw, headers = signed(secret, {"event": "CLIENT_CREATED", "data": {}})
    cases.append((422, raw, headers))  # built-in events cannot be forged
    raw, headers = signed(secret, body)
    cases.append((400, raw, {k: v for k, v in headers.items() if "Delivery" not in k}))
    raw, headers = signed(secret, {"event": "big", "data": {"blob": "x" * 300_000}})
    cases.append((413, raw, headers))  # over INBOUND_WEBHOOK_MAX_BYTES (256 KiB)

    for expected, raw, headers in cases:
        response = await anon.post(path, content=raw, headers=headers)
        assert response.status_code == expected, (expected, headers, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await _counts(tenant) == (0, 0)


async def test_unknown_sources_and_tenants_are_not_found(
    anon: httpx.AsyncClient, source: dict[str, Any]
) -> None:
    raw, headers = signed(source["secret"], {"event": "x", "data": {}})
    slug = source["path"].split("/")[4]
    for path in (
        f"/api/v1/webhooks/{slug}/nope",
        f"/api/v1/webhooks/no-such-tenant/{source['source']}",
    ):
        assert (await anon.post(path, content=raw, headers=headers)).status_code == 404


async def test_sources_are_admin_only_and_the_secret_is_shown_once(
    tenant: TenantCtx, source: dict[str, Any], base_url: str
) -> None:
    listing = await tenant.http.get("/api/v1/webhook-sources")
    assert listing.status_code == 200
    [item] = [s for s in listing.json()["items"] if s["source"] == source["source"]]
    assert "secret" not in item
    assert source["secret"].startswith("whsec_")
    stored = await fetchval(
        "SELECT secret_encrypted FROM inbound_webhook_sources WHERE id = $1::uuid", source["id"]
    )
    assert source["secret"] not in stored
    duplicate = await tenant.http.post("/api/v1/webhook-sources", json={"source": source["source"]})
    assert duplicate.status_code == 409
    bad = await tenant.http.post("/api/v1/webhook-sources", json={"source": "Has Spaces"})
    assert bad.status_code == 422

    user = await tenant.http.post(
        "/api/v1/users", json={"email": "member-src@example.test", "role": "member"}
    )
    key = await tenant.http.post(
        "/api/v1/api-keys", json={"name": "m", "user_id": user.json()["id"]}
    )
    async with client_for(base_url, key.json()["key"]) as member:
        assert (await member.get("/api/v1/webhook-sources")).status_code == 403
        assert (
            await member.post("/api/v1/webhook-sources", json={"source": "mine"})
        ).status_code == 403


async def test_rotation_retires_the_old_secret_and_delete_closes_the_source(
    tenant: TenantCtx, anon: httpx.AsyncClient, source: dict[str, Any]
) -> None:
    # grace_s 0: the old secret stops at once (the overlap is tested in test_standard.py).
    rotated = await tenant.http.post(
        f"/api/v1/webhook-sources/{source['source']}/rotate", json={"grace_s": 0}
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != source["secret"]
    raw, headers = signed(source["secret"], {"event": "x", "data": {}})
    assert (await anon.post(source["path"], content=raw, headers=headers)).status_code == 401
    raw, headers = signed(new_secret, {"event": "x", "data": {}})
    assert (await anon.post(source["path"], content=raw, headers=headers)).status_code == 202

    deleted = await tenant.http.delete(f"/api/v1/webhook-sources/{source['source']}")
    assert deleted.status_code == 204
    raw, headers = signed(new_secret, {"event": "x", "data": {}})
    assert (await anon.post(source["path"], content=raw, headers=headers)).status_code == 404
    actions = [
        r["action"]
        for r in await fetch(
            "SELECT action FROM audit_logs WHERE tenant = $1 AND resource_type = 'webhook_source' "
            "ORDER BY created_at",
            tenant.tenant_id,
        )
    ]
    assert actions == ["create", "rotate", "delete"]


async def test_another_tenant_cannot_manage_my_sources(
    other: TenantCtx, source: dict[str, Any]
) -> None:
    assert (
        await other.http.post(f"/api/v1/webhook-sources/{source['source']}/rotate")
    ).status_code == 404
    assert (
        await other.http.delete(f"/api/v1/webhook-sources/{source['source']}")
    ).status_code == 404
