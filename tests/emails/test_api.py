"""The emails API: list/get/approve/reject, members allowed, tenant-scoped, audited."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx

from app.core.sql import fetch
from app.emails.delivery import deliver_email
from tests.conftest import TenantCtx
from tests.emails.conftest import make_email, smtp_settings, unique_address
from tests.emails.smtp_sink import SmtpSink


async def _wait_for_status(http: httpx.AsyncClient, email_id: str, status: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(300):
        body = (await http.get(f"/api/v1/emails/{email_id}")).json()
        if body["status"] == status:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"email stayed {body.get('status')}: {body}")


async def test_approve_delivers_exactly_once(
    tenant: TenantCtx, member: httpx.AsyncClient, session_sink: SmtpSink
) -> None:
    to = unique_address()
    email = await make_email(tenant, to=to, subject="Your offer", body="Dear Ada,\nhere it is.")
    response = await member.post(f"/api/v1/emails/{email['email_id']}/approve")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "APPROVED"
    assert response.json()["decided_by"] is not None

    sent = await _wait_for_status(tenant.http, email["email_id"], "SENT")
    assert sent["attempts"] == 1
    assert sent["sent_at"] is not None
    assert sent["error"] is None
    received = session_sink.handler.to(to)
    assert len(received) == 1
    assert received[0].message["Subject"] == "Your offer"
    assert received[0].message_id == sent["message_id"]
    assert "here it is." in received[0].message.get_payload()

    # Another delivery run, or a second approval, sends nothing more.
    again = await deliver_email(email_id=sent["id"], settings=smtp_settings(session_sink.port))
    assert again.outcome == "SKIPPED"
    second = await member.post(f"/api/v1/emails/{email['email_id']}/approve")
    assert second.status_code == 409
    assert second.headers["content-type"].startswith("application/problem+json")
    assert len(session_sink.handler.to(to)) == 1


async def test_reject_means_never_sent(tenant: TenantCtx, session_sink: SmtpSink) -> None:
    to = unique_address()
    email = await make_email(tenant, to=to)
    response = await tenant.http.post(f"/api/v1/emails/{email['email_id']}/reject")
    assert response.status_code == 200
    assert response.json()["status"] == "REJECTED"
    result = await deliver_email(
        email_id=response.json()["id"], settings=smtp_settings(session_sink.port)
    )
    assert result.outcome == "SKIPPED"
    assert (
        await tenant.http.post(f"/api/v1/emails/{email['email_id']}/approve")
    ).status_code == 409
    assert (await tenant.http.post(f"/api/v1/emails/{email['email_id']}/reject")).status_code == 409
    await asyncio.sleep(0.3)
    assert session_sink.handler.to(to) == []
    body = (await tenant.http.get(f"/api/v1/emails/{email['email_id']}")).json()
    assert body["status"] == "REJECTED"
    assert body["attempts"] == 0


async def test_decisions_are_audited(tenant: TenantCtx) -> None:
    approved = await make_email(tenant)
    rejected = await make_email(tenant)
    await tenant.http.post(f"/api/v1/emails/{approved['email_id']}/approve")
    await tenant.http.post(f"/api/v1/emails/{rejected['email_id']}/reject")
    rows = await fetch(
        'SELECT action, resource_id, "user", changes FROM audit_logs '
        "WHERE tenant = $1 AND resource_type = 'email' ORDER BY created_at",
        tenant.tenant_id,
    )
    by_action = {r["action"]: r for r in rows}
    assert by_action["approve"]["resource_id"] == approved["email_id"]
    assert by_action["approve"]["user"] == tenant.admin_id
    assert by_action["reject"]["resource_id"] == rejected["email_id"]


async def test_other_tenants_emails_are_not_found(tenant: TenantCtx, other: TenantCtx) -> None:
    email = await make_email(tenant)
    for method, suffix in (("GET", ""), ("POST", "/approve"), ("POST", "/reject")):
        response = await other.http.request(method, f"/api/v1/emails/{email['email_id']}{suffix}")
        assert response.status_code == 404, (method, suffix, response.text)
    listing = (await other.http.get("/api/v1/emails")).json()
    assert email["email_id"] not in [e["id"] for e in listing["items"]]
    # Still a draft: the other tenant changed nothing.
    assert (await tenant.http.get(f"/api/v1/emails/{email['email_id']}")).json()[
        "status"
    ] == "DRAFT"


async def test_list_filters_and_pages(tenant: TenantCtx) -> None:
    created = await tenant.http.post("/api/v1/clients", json={"name": "Grace Hopper"})
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]
    mine = [await make_email(tenant, client_id=UUID(client_id)) for _ in range(3)]
    loose = [await make_email(tenant) for _ in range(2)]
    await tenant.http.post(f"/api/v1/emails/{loose[0]['email_id']}/reject")

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await tenant.http.get("/api/v1/emails", params=params)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5

    by_client = (await tenant.http.get("/api/v1/emails", params={"client": client_id})).json()
    assert sorted(e["id"] for e in by_client["items"]) == sorted(m["email_id"] for m in mine)
    rejected = (await tenant.http.get("/api/v1/emails", params={"status": "REJECTED"})).json()
    assert [e["id"] for e in rejected["items"]] == [loose[0]["email_id"]]


async def test_bad_listing_input_is_a_4xx(tenant: TenantCtx) -> None:
    bad_status = await tenant.http.get("/api/v1/emails", params={"status": "NOPE"})
    assert 400 <= bad_status.status_code < 500
    bad_cursor = await tenant.http.get("/api/v1/emails", params={"cursor": "garbage"})
    assert bad_cursor.status_code == 422
    bad_limit = await tenant.http.get("/api/v1/emails", params={"limit": 0})
    assert 400 <= bad_limit.status_code < 500
    missing = await tenant.http.post("/api/v1/emails/00000000-0000-0000-0000-000000000000/approve")
    assert missing.status_code == 404


async def test_the_api_needs_a_key(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/api/v1/emails")).status_code == 401


async def test_concurrent_decisions_have_one_winner(
    tenant: TenantCtx, member: httpx.AsyncClient
) -> None:
    email = await make_email(tenant)
    url = f"/api/v1/emails/{email['email_id']}"
    answers = await asyncio.gather(
        tenant.http.post(f"{url}/approve"),
        member.post(f"{url}/reject"),
        member.post(f"{url}/approve"),
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409, 409]
    winner = next(a for a in answers if a.status_code == 200).json()
    assert (await tenant.http.get(url)).json()["decided_at"] == winner["decided_at"]
