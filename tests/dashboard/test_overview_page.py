"""Console overview: the last 24 hours by status, failing workflows, what waits — each a link."""

from __future__ import annotations

from tests.conftest import TenantCtx
from tests.dashboard.conftest import Console
from tests.emails.conftest import make_email
from tests.engine.helpers import (
    BROKEN,
    NOTE,
    create_client,
    create_workflow,
    on_client_created,
    wait_executions,
)


async def test_overview_counts_and_links(tenant: TenantCtx, member_console: Console) -> None:
    await on_client_created(tenant, actions=NOTE, name="Greets")
    broken = await create_workflow(
        tenant, trigger_type="CLIENT_CREATED", actions=BROKEN, name="Breaks often"
    )
    await create_client(tenant)
    await create_client(tenant)
    await wait_executions(tenant, count=4)
    await make_email(tenant, subject="Waiting for you")

    page = await member_console.http.get("/dashboard")
    assert page.status_code == 200
    text = page.text
    # Executions of the last 24 h by status, each card a link to that filtered list.
    assert 'data-status="COMPLETED" href="/dashboard/executions?status=COMPLETED&from=' in text
    completed = text.split('data-status="COMPLETED"')[1].split("</a>")[0]
    assert '<span class="n">2</span>' in completed
    failed = text.split('data-status="FAILED"')[1].split("</a>")[0]
    assert '<span class="n">2</span>' in failed
    # The workflow failing most links to its failed executions.
    assert f"/dashboard/executions?workflow={broken['id']}&status=FAILED" in text
    assert "Breaks often" in text
    # What waits: drafts and the queue.
    assert "Waiting for you" in text
    assert '<a href="/dashboard/executions?status=PENDING">Queue depth</a>' in text
    listing = await member_console.http.get(
        "/dashboard/executions", params={"workflow": broken["id"], "status": "FAILED"}
    )
    assert listing.text.count('<tr data-status="FAILED"') == 2
