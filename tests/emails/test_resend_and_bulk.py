"""A FAILED email sent again by a person (never automatically), and decisions on a selection."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx

from app.core.sql import fetch, fetchrow
from tests.conftest import TenantCtx
from tests.emails.conftest import make_email, unique_address
from tests.emails.smtp_sink import SmtpSink
from tests.helpers import assert_problem


async def _row(email_id: str | UUID) -> Any:
    return await fetchrow(
        "SELECT status, attempts, error, message_id FROM emails WHERE id = $1", UUID(str(email_id))
    )


async def _wait(email_id: str | UUID, *statuses: str) -> Any:
    for _ in range(600):
        row = await _row(email_id)
        if row["status"] in statuses:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"email {email_id} never reached {statuses}: {row['status']}")


async def _audit(email_id: str | UUID) -> list[str]:
    rows = await fetch(
        "SELECT action FROM audit_logs WHERE resource_type = 'email' AND resource_id = $1 "
        "ORDER BY created_at",
        str(email_id),
    )
    return [r["action"] for r in rows]


async def _failed_email(tenant: TenantCtx, sink: SmtpSink) -> tuple[str, str]:
    """A draft approved through the API and refused by the SMTP server (550): FAILED."""
    to = unique_address()
    sink.handler.data_replies[to] = ["550 5.1.1 No such user"]
    email = await make_email(tenant, to=to)
    approved = await tenant.http.post(f"/api/v1/emails/{email['email_id']}/approve")
    assert approved.status_code == 200, approved.text
    row = await _wait(email["email_id"], "FAILED")
    assert "550" in row["error"]
    return email["email_id"], to


async def test_a_person_sends_a_failed_email_again_once(
    tenant: TenantCtx, member: httpx.AsyncClient, session_sink: SmtpSink
) -> None:
    from app.emails.jobs import email_sweep

    email_id, to = await _failed_email(tenant, session_sink)
    failed = await _row(email_id)
    # Nothing automatic sends a FAILED email again.
    await email_sweep()
    assert (await _row(email_id))["status"] == "FAILED"
    assert session_sink.handler.to(to) == []

    response = await member.post(f"/api/v1/emails/{email_id}/resend")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["attempts"], body["error"]) == ("APPROVED", 0, None)
    sent = await _wait(email_id, "SENT", "FAILED")
    assert sent["status"] == "SENT"
    [received] = session_sink.handler.to(to)
    # The same Message-ID as the first attempt: a receiver can tell it is the same message.
    assert received.message_id == failed["message_id"] == sent["message_id"]
    assert _audit_has(await _audit(email_id), ["approve", "resend", "send"])

    again = await member.post(f"/api/v1/emails/{email_id}/resend")
    assert "SENT" in assert_problem(again, 409)["detail"]


def _audit_has(actions: list[str], expected: list[str]) -> bool:
    it = iter(actions)
    return all(a in it for a in expected)


async def test_an_unknown_outcome_needs_the_persons_confirmation(tenant: TenantCtx) -> None:
    from app.emails.delivery import reconcile_stuck_sending

    email = await make_email(tenant)
    email_id = UUID(email["email_id"])
    # A worker claimed it (SENDING) and died before the server's answer to DATA.
    await fetch(
        "UPDATE emails SET status = 'SENDING', attempts = 1, message_id = '<m-1@crmflow.test>', "
        "send_started_at = now() - interval '1 hour' WHERE id = $1",
        email_id,
    )
    assert await reconcile_stuck_sending(stale_after=timedelta(0), only=[email_id]) == [email_id]
    assert "delivery state unknown" in (await _row(email_id))["error"]

    refused = assert_problem(await tenant.http.post(f"/api/v1/emails/{email_id}/resend"), 409)
    assert "<m-1@crmflow.test>" in refused["detail"]
    assert (await _row(email_id))["status"] == "FAILED"
    not_confirmed = await tenant.http.post(
        f"/api/v1/emails/{email_id}/resend", json={"confirm_possibly_delivered": False}
    )
    assert_problem(not_confirmed, 409)
    confirmed = await tenant.http.post(
        f"/api/v1/emails/{email_id}/resend", json={"confirm_possibly_delivered": True}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["message_id"] == "<m-1@crmflow.test>"


async def test_resend_refuses_what_is_not_failed_and_other_tenants(
    tenant: TenantCtx, other: TenantCtx
) -> None:
    draft = await make_email(tenant)
    refused = assert_problem(
        await tenant.http.post(f"/api/v1/emails/{draft['email_id']}/resend"), 409
    )
    assert "DRAFT" in refused["detail"]
    assert_problem(await other.http.post(f"/api/v1/emails/{draft['email_id']}/resend"), 404)
    assert_problem(await tenant.http.post(f"/api/v1/emails/{uuid4()}/resend"), 404)
    bad = assert_problem(await tenant.http.post("/api/v1/emails/nope/resend"), 422)
    assert bad["errors"][0]["path"] == "path.email_id"
    unknown = await tenant.http.post(
        f"/api/v1/emails/{draft['email_id']}/resend", json={"confirm": True}
    )
    assert_problem(unknown, 422)


async def test_decide_a_selection(
    tenant: TenantCtx, other: TenantCtx, session_sink: SmtpSink
) -> None:
    addresses = [unique_address() for _ in range(3)]
    drafts = [(await make_email(tenant, to=a))["email_id"] for a in addresses]
    decided = await make_email(tenant)
    rejected = await tenant.http.post(f"/api/v1/emails/{decided['email_id']}/reject")
    assert rejected.status_code == 200
    foreign = (await make_email(other))["email_id"]
    missing = str(uuid4())
    # A draft stored before recipients were parsed strictly.
    broken = (await make_email(tenant))["email_id"]
    await fetch("UPDATE emails SET \"to\" = 'None' WHERE id = $1", UUID(broken))

    response = await tenant.http.post(
        "/api/v1/emails/decide",
        json={
            "action": "approve",
            "ids": [*drafts, decided["email_id"], foreign, missing, broken, drafts[0]],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["id"] for e in body["decided"]] == drafts
    assert {e["status"] for e in body["decided"]} == {"APPROVED"}
    reasons = {s["id"]: s["reason"] for s in body["skipped"]}
    assert reasons[decided["email_id"]] == "it is REJECTED"
    assert reasons[foreign] == "no such email"  # another tenant's is not even named
    assert reasons[missing] == "no such email"
    assert "recipient is not a valid email address" in reasons[broken]
    assert len(body["skipped"]) == 4
    for email_id, to in zip(drafts, addresses, strict=True):
        assert (await _wait(email_id, "SENT", "FAILED"))["status"] == "SENT"
        assert len(session_sink.handler.to(to)) == 1
        assert "approve" in await _audit(email_id)
    assert (await _row(foreign))["status"] == "DRAFT"

    rejecting = await tenant.http.post(
        "/api/v1/emails/decide", json={"action": "reject", "ids": [broken]}
    )
    assert [e["status"] for e in rejecting.json()["decided"]] == ["REJECTED"]


async def test_decide_refuses_bad_bodies(tenant: TenantCtx) -> None:
    for body, path in (
        ({"action": "maybe", "ids": [str(uuid4())]}, "$.action"),
        ({"action": "approve", "ids": []}, "$.ids"),
        ({"action": "approve", "ids": [str(uuid4()) for _ in range(201)]}, "$.ids"),
        ({"action": "approve", "ids": ["not-an-id"]}, "$.ids[0]"),
    ):
        problem = assert_problem(await tenant.http.post("/api/v1/emails/decide", json=body), 422)
        assert problem["errors"][0]["path"] == path, problem
