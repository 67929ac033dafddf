"""Recipients are parsed as exactly one RFC 5322 address everywhere: the allowlist cannot be fooled.

The attack strings below passed the old check (only the text after the last "@" was compared
with the allowlist) and the SMTP client then mailed the victim.
"""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from app.core.sql import fetch, fetchrow
from app.core.uow import unit_of_work
from app.emails.addresses import InvalidRecipient, parse_recipient
from app.emails.delivery import Outcome, deliver_email
from app.emails.policy import recipient_allowed
from tests.conftest import TenantCtx
from tests.emails.conftest import make_email, send_mode_settings, smtp_settings
from tests.emails.smtp_sink import SmtpSink
from tests.engine.helpers import create_workflow, get_execution, unique, wait_executions

ALLOW = ["*@partner.test"]
ATTACKS = [
    "victim@evil.test,x@partner.test",
    "<victim@evil.test>x@partner.test",
    "victim@evil.test;x@partner.test",
    "victim@evil.test x@partner.test",
    '"victim@evil.test"@partner.test',
    "Partner <victim@evil.test>, x@partner.test",
    "x@partner.test\r\nBcc: victim@evil.test",
    "None",
    "",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_an_attack_string_is_no_address_and_matches_no_allowlist(text: str) -> None:
    with pytest.raises(InvalidRecipient):
        parse_recipient(text)
    assert not recipient_allowed(text, ALLOW)


def test_one_address_with_or_without_a_display_name_is_accepted() -> None:
    bare = parse_recipient("Sales@Partner.TEST")
    assert (bare.address, bare.domain) == ("sales@partner.test", "partner.test")
    named = parse_recipient('"Doe, Jane" <jane@partner.test>')
    assert (named.address, named.display_name) == ("jane@partner.test", "Doe, Jane")
    # The stored form parses back to the same recipient.
    assert parse_recipient(named.header) == named
    assert recipient_allowed(named, ALLOW)
    assert not recipient_allowed(parse_recipient("jane@evil.test"), ALLOW)


@pytest.mark.parametrize("text", [*ATTACKS[:4], "None"])
async def test_a_literal_recipient_that_is_not_one_address_is_refused_on_save(
    tenant: TenantCtx, text: str
) -> None:
    response = await tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": unique("wf"),
            "trigger_type": "MANUAL",
            "actions": [
                {"type": "SEND_EMAIL", "config": {"to": text, "subject": "s", "body": "b"}}
            ],
        },
    )
    assert response.status_code == 422, response.text
    paths = {e["path"]: e["message"] for e in response.json()["errors"]}
    assert "$.actions[0].config.to" in paths
    assert "not exactly one email address" in paths["$.actions[0].config.to"]


@pytest.mark.parametrize("text", ATTACKS[:3])
async def test_send_mode_never_stores_an_email_for_an_attack_string(
    tenant: TenantCtx, text: str
) -> None:
    with pytest.raises(InvalidRecipient):
        await make_email(tenant, to=text, settings=send_mode_settings(ALLOW))
    rows = await fetch("SELECT id FROM emails WHERE tenant = $1", tenant.tenant_id)
    assert rows == []


async def test_a_templated_recipient_that_is_not_one_address_fails_the_step(
    tenant: TenantCtx,
) -> None:
    name = unique("ping")
    workflow = await create_workflow(
        tenant,
        trigger_type="CUSTOM",
        trigger_config={"event": name},
        actions=[
            {
                "type": "SEND_EMAIL",
                "config": {"to": "{{ event.payload.to }}", "subject": "s", "body": "b"},
            }
        ],
    )
    response = await tenant.http.post(
        "/api/v1/events", json={"type": name, "payload": {"to": "victim@evil.test,x@partner.test"}}
    )
    assert response.status_code in (201, 202), response.text
    [execution] = await wait_executions(tenant, workflow_id=workflow["id"])
    detail = await get_execution(tenant, execution["id"])
    assert detail["status"] == "FAILED"
    [log] = detail["logs"]
    assert log["status"] == "FAILED"
    assert "is not a valid email address" in log["error_message"]
    emails = await tenant.http.get("/api/v1/emails")
    assert emails.json()["items"] == []


async def _legacy_email(tenant: TenantCtx, to: str, status: str) -> UUID:
    """A row as the old code stored it, before recipients were parsed strictly."""
    email_id = uuid4()
    async with unit_of_work():
        await fetch(
            """
            INSERT INTO emails (id, tenant, "to", subject, body, status, attempts,
                                created_at, updated_at)
            VALUES ($1, $2, $3, 's', 'b', $4, 0, now(), now())
            """,
            email_id,
            tenant.tenant_id,
            to,
            status,
        )
    return email_id


@pytest.mark.parametrize("text", ["None", "victim@evil.test,x@partner.test"])
async def test_a_draft_whose_recipient_is_no_address_cannot_be_approved(
    tenant: TenantCtx, text: str
) -> None:
    email_id = await _legacy_email(tenant, text, "DRAFT")
    response = await tenant.http.post(f"/api/v1/emails/{email_id}/approve")
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["path"] == "$.to"
    row = await fetchrow("SELECT status FROM emails WHERE id = $1", email_id)
    assert row is not None
    assert row["status"] == "DRAFT"
    # Rejecting it is still possible.
    assert (await tenant.http.post(f"/api/v1/emails/{email_id}/reject")).status_code == 200


@pytest.mark.parametrize("text", [*ATTACKS[:3], "None"])
async def test_delivery_refuses_an_approved_email_whose_recipient_is_no_address(
    tenant: TenantCtx, sink: SmtpSink, text: str
) -> None:
    email_id = await _legacy_email(tenant, text, "APPROVED")
    result = await deliver_email(email_id=email_id, settings=smtp_settings(sink.port))
    assert result.outcome is Outcome.FAILED
    assert "not a valid email address" in (result.detail or "")
    assert sink.handler.received == []
    # The same path delivers a valid one, so the empty sink above means something.
    good = await _legacy_email(tenant, "Partner Sales <sales@partner.test>", "APPROVED")
    sent = await deliver_email(email_id=good, settings=smtp_settings(sink.port))
    assert sent.outcome is Outcome.SENT
    [received] = sink.handler.received
    assert received.rcpt_tos == ["sales@partner.test"]
    assert received.message["To"] == "Partner Sales <sales@partner.test>"
