"""HubSpot inbound: X-HubSpot-Signature-v3 computed the way HubSpot's documentation does it,
HubSpot's event arrays and form submissions as CUSTOM events, deduplicated by HubSpot's ids."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.core.config import get_settings
from app.core.sql import fetch, fetchval
from app.webhooks import hubspot
from tests.conftest import TenantCtx

PUBLIC_BASE = "https://crm.example.com/proxy"
APP_SECRET = "hubspot-app-secret-0123"  # what HubSpot calls the app's client secret


def hubspot_signature(secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    """HubSpot's documented recipe: source = method + uri + body + timestamp,
    signature = base64(HMAC-SHA256(client secret, source))."""
    source_string = method + uri + body + timestamp
    digest = hmac.new(secret.encode("utf-8"), source_string.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def hubspot_request(
    secret: str, uri: str, payload: Any, *, age_ms: int = 0
) -> tuple[str, dict[str, str]]:
    body = json.dumps(payload)
    timestamp = str(int(time.time() * 1000) - age_ms)
    return body, {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": hubspot_signature(secret, "POST", uri, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


@pytest.fixture
def public_base_url() -> Iterator[str]:
    """PUBLIC_BASE_URL as a proxy in front of the service would publish it."""
    before = os.environ.get("PUBLIC_BASE_URL")
    os.environ["PUBLIC_BASE_URL"] = PUBLIC_BASE
    get_settings.cache_clear()
    yield PUBLIC_BASE
    if before is None:
        os.environ.pop("PUBLIC_BASE_URL", None)
    else:
        os.environ["PUBLIC_BASE_URL"] = before
    get_settings.cache_clear()


@pytest.fixture
async def hubspot_source(tenant: TenantCtx) -> dict[str, Any]:
    response = await tenant.http.post(
        "/api/v1/webhook-sources",
        json={"source": "hubspot", "hubspot": {"client_secret": APP_SECRET}},
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    assert data["kind"] == "hubspot"
    assert data["secret"] is None  # it is the one we sent: never echoed
    return data


def contact_events(*ids: int) -> list[dict[str, Any]]:
    return [
        {
            "eventId": event_id,
            "subscriptionId": 1200,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": 1732464000000 + event_id,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": 1246965,
            "changeSource": "CRM",
            "propertyName": "lifecyclestage",
            "propertyValue": "customer",
        }
        for event_id in ids
    ]


def _decoded(value: Any) -> Any:
    """jsonb as the pool hands it over (decoded by its codec, or text without one)."""
    return json.loads(value) if isinstance(value, str) else value


async def _counts(tenant: TenantCtx) -> tuple[int, int]:
    deliveries = await fetchval(
        "SELECT count(*) FROM inbound_deliveries WHERE tenant = $1", tenant.tenant_id
    )
    events = await fetchval("SELECT count(*) FROM events WHERE tenant = $1", tenant.tenant_id)
    return int(deliveries), int(events)


async def test_signed_event_array_becomes_one_event_per_item_once(
    tenant: TenantCtx,
    anon: httpx.AsyncClient,
    hubspot_source: dict[str, Any],
    public_base_url: str,
) -> None:
    path = hubspot_source["path"]
    uri = public_base_url + path
    body, headers = hubspot_request(APP_SECRET, uri, contact_events(101, 102, 101))
    response = await anon.post(path, content=body, headers=headers)
    assert response.status_code == 202, response.text
    result = response.json()
    # The repeated eventId inside the same request is one event too.
    assert (result["received"], result["recorded"], result["duplicates"]) == (3, 2, 1)
    rows = await fetch(
        "SELECT type, payload::text AS payload FROM events WHERE tenant = $1 ORDER BY created_at",
        tenant.tenant_id,
    )
    assert [r["type"] for r in rows] == ["hubspot.contact.propertyChange"] * 2
    payloads = [_decoded(r["payload"]) for r in rows]
    assert sorted(p["eventId"] for p in payloads) == [101, 102]
    assert payloads[0]["propertyValue"] == "customer"

    # HubSpot retries the same batch: acknowledged (200), nothing recorded twice.
    body, headers = hubspot_request(APP_SECRET, uri, contact_events(101, 102))
    again = await anon.post(path, content=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["duplicates"] == 2
    assert await _counts(tenant) == (2, 2)


async def test_form_submission_becomes_an_event_on_the_matching_client(
    tenant: TenantCtx,
    anon: httpx.AsyncClient,
    hubspot_source: dict[str, Any],
    public_base_url: str,
) -> None:
    client = await tenant.http.post(
        "/api/v1/clients", json={"name": "Grace", "email": "grace@navy.test"}
    )
    assert client.status_code == 201, client.text
    before = await _counts(tenant)
    submission = {
        "formId": "5a8e4b57-0000-4000-8000-000000000001",
        "conversionId": "b3c5-0001",
        "portalId": 62515,
        "submittedAt": 1732464000000,
        "pageUrl": "https://www.example.com/contact",
        "fields": [
            {"name": "email", "value": "Grace@Navy.test"},
            {"name": "message", "value": "Call me"},
        ],
    }
    path = hubspot_source["path"]
    body, headers = hubspot_request(APP_SECRET, public_base_url + path, submission)
    response = await anon.post(path, content=body, headers=headers)
    assert response.status_code == 202, response.text
    [event_id] = response.json()["event_ids"]
    row = await fetch(
        "SELECT type, client, payload::text AS payload FROM events WHERE id = $1::uuid", event_id
    )
    assert row[0]["type"] == "hubspot.form.submission"
    assert str(row[0]["client"]) == client.json()["id"]
    payload = _decoded(row[0]["payload"])
    assert payload["fields"] == {"email": "Grace@Navy.test", "message": "Call me"}
    assert payload["submission_id"] == "b3c5-0001"
    # The same submission again (HubSpot's retry): dropped.
    body, headers = hubspot_request(APP_SECRET, public_base_url + path, [submission])
    again = await anon.post(path, content=body, headers=headers)
    assert again.status_code == 200, again.text
    assert await _counts(tenant) == (before[0] + 1, before[1] + 1)


async def test_wrong_uri_stale_tampered_or_unsigned_is_refused_and_nothing_written(
    tenant: TenantCtx,
    anon: httpx.AsyncClient,
    hubspot_source: dict[str, Any],
    public_base_url: str,
) -> None:
    path = hubspot_source["path"]
    uri = public_base_url + path
    events = contact_events(201)
    refused: list[tuple[str, dict[str, str]]] = [
        # Signed over the address the request reached, not the public one HubSpot posts to.
        hubspot_request(APP_SECRET, str(anon.base_url).rstrip("/") + path, events),
        hubspot_request(APP_SECRET, uri + "?x=1", events),  # another URI
        hubspot_request(APP_SECRET, uri, events, age_ms=5 * 60 * 1000 + 5_000),  # stale
        hubspot_request(APP_SECRET, uri, events, age_ms=-(6 * 60 * 1000)),  # from the future
        hubspot_request("another-app-secret", uri, events),  # someone else's app
    ]
    body, headers = hubspot_request(APP_SECRET, uri, events)
    refused.append((body.replace("201", "202"), headers))  # tampered
    refused.append((body, {"Content-Type": "application/json"}))  # unsigned
    ts_only = {k: v for k, v in headers.items() if k != "X-HubSpot-Signature-v3"}
    refused.append((body, ts_only))
    for body, headers in refused:
        response = await anon.post(path, content=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await _counts(tenant) == (0, 0)

    # A signed body that is not HubSpot's shape: 422 for every bad item, nothing written.
    bad = [{"eventId": 5, "subscriptionType": 7}, {"hello": 1}, *contact_events(301)]
    body, headers = hubspot_request(APP_SECRET, uri, bad)
    response = await anon.post(path, content=body, headers=headers)
    assert response.status_code == 422, response.text
    paths = [e["path"] for e in response.json()["errors"]]
    assert paths == ["$[0].subscriptionType", "$[1]"]
    assert await _counts(tenant) == (0, 0)


async def test_without_public_base_url_the_request_address_is_signed(
    tenant: TenantCtx, anon: httpx.AsyncClient, hubspot_source: dict[str, Any]
) -> None:
    path = hubspot_source["path"] + "?portal=62515"
    uri = str(anon.base_url).rstrip("/") + path
    body, headers = hubspot_request(APP_SECRET, uri, contact_events(401))
    response = await anon.post(path, content=body, headers=headers)
    assert response.status_code == 202, response.text


async def test_source_rules_and_rotation(tenant: TenantCtx, anon: httpx.AsyncClient) -> None:
    missing = await tenant.http.post(
        "/api/v1/webhook-sources", json={"source": "hs", "hubspot": {}}
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["path"] == "$.hubspot.client_secret"
    standard = await tenant.http.post("/api/v1/webhook-sources", json={"source": "std"})
    assert standard.json()["kind"] == "standard"
    assert standard.json()["secret"].startswith("whsec_")
    created = await tenant.http.post(
        "/api/v1/webhook-sources", json={"source": "hs", "hubspot": {"client_secret": APP_SECRET}}
    )
    assert created.status_code == 201, created.text
    listed = await tenant.http.get("/api/v1/webhook-sources")
    kinds = [(s["source"], s["kind"]) for s in listed.json()["items"]]
    assert kinds == [("hs", "hubspot"), ("std", "standard")]
    url = "/api/v1/webhook-sources/hs/rotate"
    assert (await tenant.http.post(url, json={})).status_code == 409  # needs the new secret
    mismatch = {"hubspot": {"client_secret": "x" * 10}}
    assert (
        await tenant.http.post("/api/v1/webhook-sources/std/rotate", json=mismatch)
    ).status_code == 409
    new_secret = {"hubspot": {"client_secret": "new-app-secret-99"}, "grace_s": 600}
    rotated = await tenant.http.post(url, json=new_secret)
    assert rotated.status_code == 200, rotated.text
    path = created.json()["path"]
    uri = str(anon.base_url).rstrip("/") + path
    for n, secret in enumerate((APP_SECRET, "new-app-secret-99")):
        body, headers = hubspot_request(secret, uri, contact_events(500 + n))
        response = await anon.post(path, content=body, headers=headers)
        assert response.status_code == 202, response.text


def test_signed_uri_decodes_the_escapes_hubspot_lists() -> None:
    assert hubspot.signed_uri("https://x.test/a%3Ab%2fc%3F%40%21%24%27%28%29%2A%2C%3B%20") == (
        "https://x.test/a:b/c?@!$'()*,;%20"
    )
    # The module's signer agrees with the documented recipe.
    assert hubspot.signature(APP_SECRET, "post", "https://x.test/h", b"[]", "1") == (
        hubspot_signature(APP_SECRET, "POST", "https://x.test/h", "[]", "1")
    )
