"""Console bulk actions: count, confirmation, the same bounded and audited service as the API."""

from __future__ import annotations

from app.core.sql import fetch, fetchval
from tests.conftest import TenantCtx
from tests.dashboard.conftest import Console
from tests.engine.helpers import (
    BROKEN,
    NOTE,
    PARKED,
    create_client,
    on_client_created,
    wait_executions,
    wait_status,
)


async def test_bulk_cancel_counts_confirms_and_audits(
    tenant: TenantCtx, member_console: Console
) -> None:
    parked = await on_client_created(tenant, actions=PARKED)
    for i in range(3):
        await create_client(tenant, name=f"Parked {i}")
    waiting = await wait_executions(tenant, count=3, terminal=False, workflow=parked["id"])
    for e in waiting:
        await wait_status(tenant, e["id"], "WAITING")

    preview = await member_console.http.get(
        "/dashboard/executions/bulk", params={"action": "cancel", "workflow": parked["id"]}
    )
    assert preview.status_code == 200
    assert 'data-count="3"' in preview.text
    assert 'name="confirm" value="3"' in preview.text
    assert (
        await fetchval(
            "SELECT count(*) FROM workflow_executions WHERE workflow = $1 AND status = 'WAITING'",
            parked["id"],
        )
        == 3
    )  # a preview changes nothing

    # A stale confirmation (the set is 3, not 2): nothing done, the page shows the new count.
    stale = await member_console.post(
        "/dashboard/executions/bulk", action="cancel", workflow=parked["id"], confirm="2"
    )
    assert stale.status_code == 200
    assert stale.headers["content-type"].startswith("text/html")  # the page, not its source
    assert "not the 2 you confirmed" in stale.text
    assert 'name="confirm" value="3"' in stale.text

    done = await member_console.post(
        "/dashboard/executions/bulk", action="cancel", workflow=parked["id"], confirm="3"
    )
    assert done.status_code == 303
    location = done.headers["location"]
    assert f"workflow={parked['id']}" in location  # back to the same filtered list
    assert "bulk=cancel" in location
    assert "done=3" in location
    listing = await member_console.http.get(location)
    assert "3 executions cancelled" in listing.text
    assert listing.text.count('data-status="CANCELLED"') == 3
    audit = await fetch(
        "SELECT action FROM audit_logs WHERE tenant = $1 AND resource_id = ANY($2::text[])",
        tenant.tenant_id,
        [e["id"] for e in waiting],
    )
    assert [r["action"] for r in audit] == ["cancel"] * 3


async def test_bulk_retry_from_the_failed_step_and_from_the_start(
    tenant: TenantCtx, console: Console
) -> None:
    broken = await on_client_created(tenant, actions=BROKEN)
    await create_client(tenant)
    await create_client(tenant)
    failed = await wait_executions(tenant, count=2, workflow=broken["id"])
    assert {e["status"] for e in failed} == {"FAILED"}

    preview = await console.http.get(
        "/dashboard/executions/bulk",
        params={"action": "retry_from_start", "workflow": broken["id"], "status": "FAILED"},
    )
    assert 'data-count="2"' in preview.text
    assert "effects included" in preview.text
    done = await console.post(
        "/dashboard/executions/bulk",
        action="retry_from_start",
        workflow=broken["id"],
        status="FAILED",
        confirm="2",
    )
    assert done.status_code == 303
    for e in (
        failed
    ):  # they ran again (and failed again: the template still reads a missing custom field)
        await wait_for_attempts(e["id"], 2)
        await wait_status(tenant, e["id"], "FAILED")
    audit = await fetch(
        "SELECT DISTINCT action FROM audit_logs"
        " WHERE tenant = $1 AND resource_id = ANY($2::text[])",
        tenant.tenant_id,
        [e["id"] for e in failed],
    )
    assert [r["action"] for r in audit] == ["retry_from_start"]

    # Nothing FAILED is left unretried? No: they failed again, so a plain retry counts them.
    again = await console.http.get(
        "/dashboard/executions/bulk", params={"action": "retry", "workflow": broken["id"]}
    )
    assert 'data-count="2"' in again.text
    # Cancel has nothing to act on among finished executions.
    cancel = await console.http.get(
        "/dashboard/executions/bulk", params={"action": "cancel", "workflow": broken["id"]}
    )
    assert 'data-count="0"' in cancel.text
    assert "nothing to do" in cancel.text


async def wait_for_attempts(execution_id: str, attempts: int) -> None:
    from tests.engine.helpers import wait_for

    await wait_for(
        lambda: fetchval(
            "SELECT count(*) FROM workflow_execution_logs WHERE execution = $1", execution_id
        ),
        until=lambda n: n >= attempts,
        what=f"{attempts} step attempts of {execution_id}",
    )


async def test_retry_from_the_start_of_one_execution(tenant: TenantCtx, console: Console) -> None:
    await on_client_created(tenant, actions=[*NOTE, *BROKEN])
    await create_client(tenant, name="Twice")
    [execution] = await wait_executions(tenant, count=1)
    assert execution["status"] == "FAILED"
    assert execution["current_step"] == 1
    detail = await console.http.get(f"/dashboard/executions/{execution['id']}")
    assert "Retry from the start" in detail.text
    done = await console.post(f"/dashboard/executions/{execution['id']}/retry-from-start")
    assert done.status_code == 303
    # Step 0 ran a second time: a second note.
    await wait_for_attempts(execution["id"], 4)
    await wait_status(tenant, execution["id"], "FAILED")
    notes = await fetchval("SELECT count(*) FROM notes WHERE execution = $1", execution["id"])
    assert notes == 2
    audit = await fetch(
        "SELECT action FROM audit_logs WHERE tenant = $1 AND resource_id = $2",
        tenant.tenant_id,
        execution["id"],
    )
    assert [r["action"] for r in audit] == ["retry_from_start"]


async def test_bulk_acts_only_on_its_own_tenant(tenant: TenantCtx, other_console: Console) -> None:
    parked = await on_client_created(tenant, actions=PARKED)
    await create_client(tenant)
    [execution] = await wait_executions(tenant, count=1, terminal=False, workflow=parked["id"])
    await wait_status(tenant, execution["id"], "WAITING")
    preview = await other_console.http.get(
        "/dashboard/executions/bulk", params={"action": "cancel", "workflow": parked["id"]}
    )
    assert 'data-count="0"' in preview.text
    stale = await other_console.post(
        "/dashboard/executions/bulk", action="cancel", workflow=parked["id"], confirm="1"
    )
    assert stale.status_code == 200  # the count is 0 for this tenant: nothing done
    await wait_status(tenant, execution["id"], "WAITING")
