"""Console executions: list with URL filters, live fragment, detail, cancel/retry, tenancy."""

from __future__ import annotations

from app.core.sql import fetch
from tests.conftest import TenantCtx
from tests.dashboard.conftest import Console
from tests.engine.helpers import (
    BROKEN,
    NOTE,
    PARKED,
    create_client,
    create_workflow,
    on_client_created,
    wait_executions,
    wait_status,
)


async def test_list_filters_and_bad_values(tenant: TenantCtx, console: Console) -> None:
    ok = await on_client_created(tenant, actions=NOTE, name="Greets")
    bad = await create_workflow(
        tenant, trigger_type="CLIENT_CREATED", actions=BROKEN, name="Breaks"
    )
    client = await create_client(tenant, name="Filterable")
    executions = await wait_executions(tenant, count=2)
    for e in executions:
        await wait_status(tenant, e["id"], "COMPLETED", "FAILED")

    everything = await console.http.get("/dashboard/executions")
    assert everything.status_code == 200
    assert "Greets" in everything.text
    assert "Breaks" in everything.text

    failed = await console.http.get("/dashboard/executions", params={"status": "FAILED"})
    assert failed.status_code == 200
    assert failed.text.count('data-status="FAILED"') == 1
    assert 'data-status="COMPLETED"' not in failed.text
    by_wf = await console.http.get("/dashboard/executions", params={"workflow": ok["id"]})
    assert by_wf.text.count("<tr data-status") == 1
    by_client = await console.http.get("/dashboard/executions", params={"client": client["id"]})
    assert by_client.text.count("<tr data-status") == 2
    by_type = await console.http.get(
        "/dashboard/executions", params={"event_type": "CLIENT_CREATED"}
    )
    assert by_type.text.count("<tr data-status") == 2
    other_type = await console.http.get("/dashboard/executions", params={"event_type": "deal.won"})
    assert other_type.text.count("<tr data-status") == 0
    # Text search inside the trigger data (the client's name) and the errors.
    by_name = await console.http.get("/dashboard/executions", params={"q": "filterABLE"})
    assert by_name.text.count("<tr data-status") == 2
    by_error = await console.http.get("/dashboard/executions", params={"q": "custom_fields.nope"})
    assert by_error.text.count('<tr data-status="FAILED"') == 1
    assert by_error.text.count("<tr data-status") == 1
    assert bad["id"]

    for params, field in (
        ({"status": "DONE"}, "query.status"),
        ({"workflow": "nope"}, "query.workflow"),
        ({"from": "yesterday"}, "query.from"),
        ({"from": "2026-01-02T00:00", "to": "2026-01-01T00:00"}, "query.to"),
        ({"cursor": "garbage!"}, "query.cursor"),
        ({"q": "x" * 500}, "query.q"),
    ):
        response = await console.http.get("/dashboard/executions", params=params)
        assert response.status_code in (400, 422), (params, response.status_code)
        assert field in response.text, params
        assert "<form" in response.text  # the page, with the filter form to fix the value


async def test_live_fragment_polls_only_while_unfinished(
    tenant: TenantCtx, console: Console
) -> None:
    await on_client_created(tenant, actions=PARKED, name="Waits")
    await create_client(tenant)
    [execution] = await wait_executions(tenant, count=1, terminal=False)
    await wait_status(tenant, execution["id"], "WAITING")
    hx = {"HX-Request": "true"}

    page = await console.http.get("/dashboard/executions", params={"status": "WAITING"})
    assert 'hx-trigger="every' in page.text
    assert "status=WAITING" in page.text  # the refresh keeps the filters
    live = await console.http.get("/dashboard/executions", params={"status": "WAITING"}, headers=hx)
    assert live.status_code == 200
    assert "<html" not in live.text
    assert 'hx-trigger="every' in live.text

    done = await console.http.get(
        "/dashboard/executions", params={"status": "COMPLETED"}, headers=hx
    )
    assert done.status_code == 286  # htmx stops polling
    assert 'hx-trigger="every' not in done.text

    detail = await console.http.get(f"/dashboard/executions/{execution['id']}")
    assert detail.status_code == 200
    assert "DELAY" in detail.text
    assert "Cancel" in detail.text
    cancelled = await console.post(f"/dashboard/executions/{execution['id']}/cancel")
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == f"/dashboard/executions/{execution['id']}"
    await wait_status(tenant, execution["id"], "CANCELLED")
    after = await console.http.get(f"/dashboard/executions/{execution['id']}", headers=hx)
    assert after.status_code == 286
    audit = await fetch(
        "SELECT action FROM audit_logs WHERE tenant = $1 AND resource_id = $2",
        tenant.tenant_id,
        execution["id"],
    )
    assert [r["action"] for r in audit] == ["cancel"]
    again = await console.post(f"/dashboard/executions/{execution['id']}/cancel")
    assert again.status_code == 409
    assert "only PENDING, RUNNING or WAITING" in again.text


async def test_retry_and_step_details(tenant: TenantCtx, console: Console) -> None:
    await on_client_created(tenant, actions=BROKEN, name="Fails")
    await create_client(tenant)
    [execution] = await wait_executions(tenant, count=1)
    assert execution["status"] == "FAILED"
    detail = await console.http.get(f"/dashboard/executions/{execution['id']}")
    assert "client.custom_fields.nope" in detail.text
    assert "Retry from the failed step" in detail.text
    retried = await console.post(f"/dashboard/executions/{execution['id']}/retry")
    assert retried.status_code == 303
    await wait_status(tenant, execution["id"], "FAILED")
    audit = await fetch(
        "SELECT action FROM audit_logs WHERE tenant = $1 AND resource_id = $2",
        tenant.tenant_id,
        execution["id"],
    )
    assert [r["action"] for r in audit] == ["retry"]


async def test_other_tenants_execution_is_404(tenant: TenantCtx, other_console: Console) -> None:
    await on_client_created(tenant, actions=NOTE)
    await create_client(tenant)
    [execution] = await wait_executions(tenant, count=1)
    for path in (f"/dashboard/executions/{execution['id']}",):
        response = await other_console.http.get(path)
        assert response.status_code == 404
        assert "No such execution" in response.text
    cancel = await other_console.post(f"/dashboard/executions/{execution['id']}/cancel")
    assert cancel.status_code == 404
    listing = await other_console.http.get("/dashboard/executions")
    assert execution["id"] not in listing.text
    malformed = await other_console.http.get("/dashboard/executions/not-a-uuid")
    assert malformed.status_code in (404, 422)


async def test_live_refresh_keeps_filters_and_page(tenant: TenantCtx, console: Console) -> None:
    from html import escape

    await create_workflow(tenant, trigger_type="CLIENT_CREATED", actions=PARKED, name="Waits")
    for _ in range(2):
        await create_client(tenant)
    executions = await wait_executions(tenant, count=2, terminal=False)
    for e in executions:
        await wait_status(tenant, e["id"], "WAITING")
    # Page 2 of one row each: the console's cursor is the API's (the same service).
    first = await tenant.http.get("/api/v1/executions", params={"status": "WAITING", "limit": 1})
    cursor = first.json()["next_cursor"]
    [second_id] = [e["id"] for e in executions if e["id"] != first.json()["items"][0]["id"]]

    params = {"status": "WAITING", "q": "client", "cursor": cursor}
    page = await console.http.get("/dashboard/executions", params=params)
    assert page.status_code == 200, page.text
    assert f"/dashboard/executions/{second_id}" in page.text
    [poll] = [line for line in page.text.splitlines() if "hx-get=" in line]
    # The refresh asks for exactly this page of exactly this filter.
    from urllib.parse import urlencode

    assert escape(f'hx-get="/dashboard/executions?{urlencode(params)}"', quote=False) in poll
    refreshed = await console.http.get(
        "/dashboard/executions", params=params, headers={"HX-Request": "true"}
    )
    assert refreshed.status_code == 200
    assert f"/dashboard/executions/{second_id}" in refreshed.text
    assert escape(f'hx-get="/dashboard/executions?{urlencode(params)}"', quote=False) in (
        refreshed.text
    )


async def test_a_member_cancels_and_retries(tenant: TenantCtx, member_console: Console) -> None:
    """Executions are a member's to act on (only workflows need an admin)."""
    await create_workflow(tenant, trigger_type="CLIENT_CREATED", actions=PARKED, name="Waits")
    await create_workflow(tenant, trigger_type="CLIENT_CREATED", actions=BROKEN, name="Fails")
    await create_client(tenant)
    executions = await wait_executions(tenant, count=2, terminal=False)
    by_status: dict[str, str] = {}
    for e in executions:
        settled = await wait_status(tenant, e["id"], "WAITING", "FAILED")
        by_status[settled["status"]] = e["id"]
    waiting, failed = by_status["WAITING"], by_status["FAILED"]

    cancelled = await member_console.post(f"/dashboard/executions/{waiting}/cancel")
    assert cancelled.status_code == 303
    await wait_status(tenant, waiting, "CANCELLED")
    retried = await member_console.post(f"/dashboard/executions/{failed}/retry-from-start")
    assert retried.status_code == 303
    await wait_status(tenant, failed, "FAILED")
    page = await member_console.http.get(f"/dashboard/executions/{failed}")
    assert page.text.count('class="attempt"') == 2
