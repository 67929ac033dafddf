"""Console event page: the event, and why each workflow ran for it or did not."""

from __future__ import annotations

from tests.conftest import TenantCtx
from tests.dashboard.conftest import Console
from tests.engine.helpers import (
    client_events,
    create_client,
    set_status,
    status_event,
    status_workflow,
    wait_dispatched,
    wait_executions,
)


async def test_event_page_shows_why_each_workflow_ran_or_not(
    tenant: TenantCtx, member_console: Console
) -> None:
    ran = await status_workflow(tenant, "Greets actives", to="ACTIVE")
    await status_workflow(tenant, "Says goodbye", to="CHURNED")
    await status_workflow(tenant, "VIP only", vip_only=True)
    client = await create_client(tenant, name="Why Client")
    await set_status(tenant, client["id"], "ACTIVE")
    event = await status_event(client["id"])
    [execution] = await wait_executions(tenant, count=1, workflow_id=ran["id"])

    page = await member_console.http.get(f"/dashboard/events/{event['id']}")
    assert page.status_code == 200
    text = page.text
    assert "1 of 3" in text
    assert text.count('data-match="ran"') == 1
    assert text.count('data-match="not"') == 2
    assert 'data-reason="TRIGGER_CONFIG"' in text
    assert 'data-reason="CONDITION"' in text
    assert "client.tags" in text
    assert f"/dashboard/executions/{execution['id']}" in text
    assert 'hx-trigger="every' not in text  # decided: nothing left to refresh

    fragment = await member_console.http.get(
        f"/dashboard/events/{event['id']}", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 286  # htmx stops polling a decided event
    assert "<html" not in fragment.text

    # The client's page carries the same reasons next to the event.
    client_page = await member_console.http.get(f"/dashboard/clients/{client['id']}")
    assert client_page.status_code == 200
    assert client_page.text.count('data-match="not"') == 2
    assert f"/dashboard/events/{event['id']}" in client_page.text


async def test_event_that_no_workflow_triggers_on(tenant: TenantCtx, console: Console) -> None:
    client = await create_client(tenant, name="Lonely")
    [event] = await client_events(client["id"])
    await wait_dispatched([event["id"]])
    page = await console.http.get(f"/dashboard/events/{event['id']}")
    assert page.status_code == 200
    assert "No workflow triggers on CLIENT_CREATED" in page.text
    assert "Lonely" in page.text or "CLIENT_CREATED" in page.text


async def test_other_tenants_event_is_404(tenant: TenantCtx, other_console: Console) -> None:
    client = await create_client(tenant)
    [event] = await client_events(client["id"])
    response = await other_console.http.get(f"/dashboard/events/{event['id']}")
    assert response.status_code == 404
    assert "No such event" in response.text
    fragment = await other_console.http.get(
        f"/dashboard/events/{event['id']}", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 404
    malformed = await other_console.http.get("/dashboard/events/not-an-id")
    assert malformed.status_code in (404, 422)
    assert malformed.status_code < 500
