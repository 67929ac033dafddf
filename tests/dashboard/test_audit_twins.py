"""Every console action leaves the audit row its API twin leaves: same action, resource, actor
(user and key), and the same fields changed — one taken in the console, one through /api/v1."""

from __future__ import annotations

import json
from typing import Any

from app.core.sql import fetch
from tests.conftest import TenantCtx
from tests.dashboard.conftest import Console
from tests.emails.conftest import make_email
from tests.engine.helpers import (
    BROKEN,
    NOTE,
    PARKED,
    create_client,
    on_client_created,
    wait_executions,
    wait_status,
)


async def _audit(tenant: TenantCtx, resource_id: str) -> list[dict[str, Any]]:
    """The resource's audit rows, oldest first, without what differs by nature (ids, times)."""
    rows = await fetch(
        'SELECT action, resource_type, "user", api_key, changes, ip FROM audit_logs'
        " WHERE tenant = $1 AND resource_id = $2 ORDER BY created_at, id",
        tenant.tenant_id,
        str(resource_id),
    )
    out = []
    for r in rows:
        changes = json.loads(r["changes"]) if isinstance(r["changes"], str) else r["changes"]
        out.append(
            {
                "action": r["action"],
                "resource_type": r["resource_type"],
                "user": r["user"],
                "api_key": r["api_key"],
                "changed": {side: sorted(changes.get(side) or {}) for side in ("before", "after")},
                "has_ip": r["ip"] is not None,
            }
        )
    return out


async def _twins(tenant: TenantCtx, console_id: str, api_id: str) -> list[dict[str, Any]]:
    by_console = await _audit(tenant, console_id)
    by_api = await _audit(tenant, api_id)
    assert by_console, "the console action left no audit row"
    assert by_console == by_api
    assert all(row["user"] == tenant.admin_id for row in by_console)
    return by_console


async def test_workflow_toggles_are_audited_like_the_api(
    tenant: TenantCtx, console: Console
) -> None:
    one = await on_client_created(tenant, actions=NOTE)
    two = await on_client_created(tenant, actions=NOTE)
    for verb in ("deactivate", "activate"):
        assert (await console.post(f"/dashboard/workflows/{one['id']}/{verb}")).status_code == 303
        response = await tenant.http.post(f"/api/v1/workflows/{two['id']}/{verb}")
        assert response.status_code == 200, response.text
    rows = await _twins(tenant, one["id"], two["id"])
    assert [r["action"] for r in rows][-2:] == ["deactivate", "activate"]


async def test_cancel_is_audited_like_the_api(tenant: TenantCtx, console: Console) -> None:
    await on_client_created(tenant, actions=PARKED)
    await create_client(tenant)
    await create_client(tenant)
    first, second = await wait_executions(tenant, count=2, terminal=False)
    for e in (first, second):
        await wait_status(tenant, e["id"], "WAITING")
    assert (await console.post(f"/dashboard/executions/{first['id']}/cancel")).status_code == 303
    response = await tenant.http.post(f"/api/v1/executions/{second['id']}/cancel")
    assert response.status_code == 200, response.text
    rows = await _twins(tenant, first["id"], second["id"])
    assert [r["action"] for r in rows] == ["cancel"]


async def test_retries_are_audited_like_the_api(tenant: TenantCtx, console: Console) -> None:
    await on_client_created(tenant, actions=BROKEN)
    await create_client(tenant)
    await create_client(tenant)
    first, second = await wait_executions(tenant, count=2)
    for verb in ("retry", "retry-from-start"):
        dash = await console.post(f"/dashboard/executions/{first['id']}/{verb}")
        assert dash.status_code == 303, dash.text
        api = await tenant.http.post(f"/api/v1/executions/{second['id']}/{verb}")
        assert api.status_code == 200, api.text
        for e in (first, second):
            await wait_status(tenant, e["id"], "FAILED")
    rows = await _twins(tenant, first["id"], second["id"])
    assert [r["action"] for r in rows] == ["retry", "retry_from_start"]


async def test_email_decisions_are_audited_like_the_api(
    tenant: TenantCtx, console: Console
) -> None:
    for verb in ("approve", "reject"):
        by_console = await make_email(tenant)
        by_api = await make_email(tenant)
        one = f"{verb}:{by_console['email_id']}"
        dash = await console.post("/dashboard/emails/decide", one=one)
        assert dash.status_code == 303, dash.text
        api = await tenant.http.post(f"/api/v1/emails/{by_api['email_id']}/{verb}")
        assert api.status_code == 200, api.text
        rows = await _twins(tenant, by_console["email_id"], by_api["email_id"])
        assert rows[0]["action"] == verb
