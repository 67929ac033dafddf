"""Console: "Why it ran / did not" on the event page and the client page."""

from __future__ import annotations

from uuid import uuid4

from tests.conftest import TenantCtx
from tests.dashboard.conftest import Console
from tests.engine.helpers import create_client, create_workflow, set_status, wait_dispatched

NOTE = [{"type": "ADD_NOTE", "config": {"body": "hello"}}]


async def test_event_and_client_pages_say_why_workflows_did_not_run(
    tenant: TenantCtx, console: Console, other_console: Console
) -> None:
    await create_workflow(
        tenant,
        name="Welcome churned",
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config={"to": "CHURNED"},
        actions=NOTE,
    )
    await create_workflow(
        tenant,
        name="VIP only",
        trigger_type="CLIENT_STATUS_CHANGED",
        conditions={"field": "client.tags", "operator": "contains", "value": "vip"},
        actions=NOTE,
    )
    client = await create_client(tenant, name="Ada <b>")
    await set_status(tenant, client["id"], "ACTIVE")
    events = await tenant.http.get(
        "/api/v1/events", params={"client": client["id"], "type": "CLIENT_STATUS_CHANGED"}
    )
    [event] = events.json()["items"]
    await wait_dispatched([event["id"]])

    page = await console.http.get(f"/dashboard/events/{event['id']}")
    assert page.status_code == 200, page.text
    assert "Why it ran / did not" in page.text
    assert "0 of 2 workflows with trigger CLIENT_STATUS_CHANGED ran." in page.text
    assert "Welcome churned" in page.text
    assert "trigger_config.to wants &#34;CHURNED&#34;" in page.text  # escaped, never raw HTML
    assert "client.tags contains" in page.text
    assert 'data-reason="CONDITION"' in page.text

    client_page = await console.http.get(f"/dashboard/clients/{client['id']}")
    assert client_page.status_code == 200
    assert "Why it ran / did not: 0 of 2 workflows ran" in client_page.text
    assert 'data-reason="TRIGGER_CONFIG"' in client_page.text
    assert "Ada &lt;b&gt;" in client_page.text

    assert (await other_console.http.get(f"/dashboard/events/{event['id']}")).status_code == 404
    assert (await console.http.get(f"/dashboard/events/{uuid4()}")).status_code == 404


async def test_an_event_no_workflow_listens_to(tenant: TenantCtx, console: Console) -> None:
    posted = await tenant.http.post("/api/v1/events", json={"type": "nobody.listens"})
    event_id = posted.json()["id"]
    await wait_dispatched([event_id])
    page = await console.http.get(f"/dashboard/events/{event_id}")
    assert page.status_code == 200
    assert "No workflow triggers on CUSTOM: nothing ran." in page.text
