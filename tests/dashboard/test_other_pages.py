"""Console pages for emails, workflows and clients: rendering, actions, roles, tenancy."""

from __future__ import annotations

import asyncio

from app.core.sql import fetch, fetchval
from tests.conftest import TenantCtx
from tests.dashboard.conftest import Console
from tests.emails.conftest import make_email, unique_address
from tests.emails.smtp_sink import SmtpSink
from tests.engine.helpers import (
    NOTE,
    create_client,
    create_workflow,
    on_client_created,
    status_workflow,
    wait_executions,
)


async def _email_status(email_id: str) -> str:
    return str(await fetchval("SELECT status FROM emails WHERE id = $1", email_id))


async def _wait_email(email_id: str, status: str) -> None:
    for _ in range(400):
        if await _email_status(email_id) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"email {email_id} never reached {status}")


async def test_drafts_approve_one_and_reject_a_selection(
    tenant: TenantCtx, member_console: Console, session_sink: SmtpSink
) -> None:
    to = unique_address()
    first = await make_email(tenant, to=to, subject="Your offer", body="Dear Ada,\n<b>here</b>")
    second = await make_email(tenant, subject="Second")
    third = await make_email(tenant, subject="Third")
    page = await member_console.http.get("/dashboard/emails")
    assert page.status_code == 200
    assert "Your offer" in page.text
    assert "&lt;b&gt;here&lt;/b&gt;" in page.text  # the body is shown, never rendered as HTML

    approved = await member_console.post(
        "/dashboard/emails/decide", one=f"approve:{first['email_id']}"
    )
    assert approved.status_code == 303
    assert "approved=1" in approved.headers["location"]
    await _wait_email(first["email_id"], "SENT")
    assert len(session_sink.handler.to(to)) == 1

    rejected = await member_console.post(
        "/dashboard/emails/decide",
        action="reject",
        ids=[second["email_id"], third["email_id"], first["email_id"]],
    )
    assert rejected.status_code == 303
    assert "rejected=2&skipped=1" in rejected.headers["location"]
    assert await _email_status(second["email_id"]) == "REJECTED"
    assert await _email_status(third["email_id"]) == "REJECTED"
    actions = await fetch(
        "SELECT action FROM audit_logs"
        " WHERE tenant = $1 AND resource_type = 'email' AND action IN ('approve', 'reject')",
        tenant.tenant_id,
    )
    assert sorted(r["action"] for r in actions) == ["approve", "reject", "reject"]
    flash = await member_console.http.get(rejected.headers["location"])
    assert "2 rejected" in flash.text

    again = await member_console.post(
        "/dashboard/emails/decide", one=f"approve:{first['email_id']}"
    )
    assert again.status_code == 409
    bad = await member_console.http.get("/dashboard/emails", params={"status": "LOST"})
    assert bad.status_code == 400
    assert "query.status" in bad.text


async def test_other_tenants_email_is_refused(tenant: TenantCtx, other_console: Console) -> None:
    email = await make_email(tenant)
    response = await other_console.post(
        "/dashboard/emails/decide", one=f"reject:{email['email_id']}"
    )
    assert response.status_code == 404
    assert await _email_status(email["email_id"]) == "DRAFT"
    listing = await other_console.http.get("/dashboard/emails")
    assert email["email_id"] not in listing.text


async def test_workflows_admin_toggles_member_is_denied(
    tenant: TenantCtx, console: Console, member_console: Console
) -> None:
    wf = await status_workflow(tenant, "VIP welcome", to="ACTIVE", vip_only=True)
    greets = await create_workflow(
        tenant, trigger_type="CLIENT_CREATED", actions=NOTE, name="Greets everyone"
    )
    await create_client(tenant)
    await create_client(tenant)
    await wait_executions(tenant, count=2, workflow=greets["id"])
    listing = await member_console.http.get("/dashboard/workflows")
    assert listing.status_code == 200
    assert "VIP welcome" in listing.text
    # The last 24 h's counts, each a link to those executions.
    row = listing.text.split(f'data-workflow="{greets["id"]}"')[1].split("</tr>")[0]
    assert "2 completed" in row
    assert "0 failed" in row
    assert f"/dashboard/executions?workflow={greets['id']}&status=COMPLETED&from=" in row
    assert "Deactivate" not in listing.text  # no admin buttons for a member
    detail = await member_console.http.get(f"/dashboard/workflows/{wf['id']}")
    assert "client.tags" in detail.text
    assert "contains" in detail.text
    assert "ADD_NOTE" in detail.text

    denied = await member_console.post(f"/dashboard/workflows/{wf['id']}/deactivate")
    assert denied.status_code == 403
    assert "admin role" in denied.text
    assert await fetchval("SELECT is_active FROM workflows WHERE id = $1", wf["id"]) is True

    done = await console.post(f"/dashboard/workflows/{wf['id']}/deactivate")
    assert done.status_code == 303
    assert await fetchval("SELECT is_active FROM workflows WHERE id = $1", wf["id"]) is False
    audit = await fetch(
        "SELECT action FROM audit_logs WHERE tenant = $1 AND resource_id = $2",
        tenant.tenant_id,
        wf["id"],
    )
    assert "deactivate" in [r["action"] for r in audit]


async def test_clients_search_and_timeline(tenant: TenantCtx, console: Console) -> None:
    await on_client_created(tenant, actions=NOTE, name="Greeter")
    client = await create_client(tenant, name="Grace Hopper", email="grace@navy.test")
    await create_client(tenant, name="Alan Turing")
    await wait_executions(tenant, count=2)
    task = await tenant.http.post(
        "/api/v1/tasks", json={"title": "Call Grace back", "client_id": client["id"]}
    )
    assert task.status_code == 201, task.text
    doc = await tenant.http.post(
        f"/api/v1/clients/{client['id']}/documents",
        files={"file": ("contract.txt", b"signed", "text/plain")},
    )
    assert doc.status_code == 201, doc.text
    found = await console.http.get("/dashboard/clients", params={"q": "grace"})
    assert found.status_code == 200
    assert "Grace Hopper" in found.text
    assert "Alan Turing" not in found.text
    page = await console.http.get(f"/dashboard/clients/{client['id']}")
    assert page.status_code == 200
    assert 'data-kind="event"' in page.text
    assert 'data-kind="execution"' in page.text
    assert "CLIENT_CREATED" in page.text
    # One timeline: events, executions, tasks, notes (the workflow wrote one) and documents.
    assert 'data-kind="note"' in page.text
    assert "hello Grace Hopper" in page.text
    assert 'data-kind="task"' in page.text
    assert "Call Grace back" in page.text
    assert 'data-kind="document"' in page.text
    assert "contract.txt" in page.text
    long = await console.http.get("/dashboard/clients", params={"q": "x" * 300})
    assert long.status_code == 400
    assert "query.q" in long.text


async def test_other_tenants_workflow_and_client_are_404(
    tenant: TenantCtx, other_console: Console
) -> None:
    wf = await on_client_created(tenant, actions=NOTE)
    client = await create_client(tenant)
    for path in (f"/dashboard/workflows/{wf['id']}", f"/dashboard/clients/{client['id']}"):
        response = await other_console.http.get(path)
        assert response.status_code == 404, path
    toggle = await other_console.post(f"/dashboard/workflows/{wf['id']}/deactivate")
    assert toggle.status_code == 404


async def test_pages_name_the_client_not_its_id(tenant: TenantCtx, console: Console) -> None:
    from uuid import UUID

    await on_client_created(tenant, actions=NOTE, name="Greets")
    client = await create_client(tenant, name="Ada Lovelace")
    [execution] = await wait_executions(tenant, count=1)
    email = await make_email(tenant, subject="Your offer", client_id=UUID(client["id"]))
    link = f'<a href="/dashboard/clients/{client["id"]}">Ada Lovelace</a>'

    emails = await console.http.get("/dashboard/emails")
    assert f'data-email="{email["email_id"]}"' in emails.text
    assert link in emails.text
    rows = await console.http.get("/dashboard/executions")
    assert link in rows.text
    fragment = await console.http.get("/dashboard/executions", headers={"HX-Request": "true"})
    assert link in fragment.text
    detail = await console.http.get(f"/dashboard/executions/{execution['id']}")
    assert link in detail.text
    event = await console.http.get(f"/dashboard/events/{execution['event_id']}")
    assert link in event.text
    # Filtered by the client, the list says whose executions these are.
    by_client = await console.http.get("/dashboard/executions", params={"client": client["id"]})
    assert 'class="muted">Ada Lovelace</a>' in by_client.text
