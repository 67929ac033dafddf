"""Small explicit helpers for engine and executions tests: everything through the API."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from app.core.sql import fetch, fetchval
from app.core.uow import unit_of_work
from tests.conftest import TenantCtx

T = TypeVar("T")

DEADLINE_S = 60.0
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}

# Action lists many tests run: a note that succeeds, one that fails at once (its template names a
# missing field; no retry), and a DELAY that parks the execution WAITING for an hour first.
NOTE = [{"type": "ADD_NOTE", "config": {"body": "hello {{client.name}}"}}]
BROKEN = [
    {
        "type": "ADD_NOTE",
        "config": {"body": "{{client.custom_fields.nope}}"},
        "retry": {"max_attempts": 1},
    }
]
PARKED = [{"type": "DELAY", "config": {"duration": {"hours": 1}}}, *NOTE]
VIP = {"field": "client.tags", "operator": "contains", "value": "vip"}


async def wait_for(
    probe: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], bool] = bool,
    deadline_s: float = DEADLINE_S,
    what: str = "condition",
) -> T:
    """Poll probe() until until(result); fail with the last result after a generous deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        result = await probe()
        if until(result):
            return result
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}; last value: {result!r}")
        await asyncio.sleep(0.05)


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(3).hex()}"


async def create_workflow(
    tenant: TenantCtx,
    *,
    trigger_type: str,
    actions: list[dict[str, Any]],
    trigger_config: dict[str, Any] | None = None,
    conditions: dict[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    response = await tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": name or unique("wf"),
            "trigger_type": trigger_type,
            "trigger_config": trigger_config or {},
            "conditions": conditions,
            "actions": actions,
            "is_active": True,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def on_client_created(tenant: TenantCtx, **fields: Any) -> dict[str, Any]:
    """An active CLIENT_CREATED workflow (create_workflow's other arguments as given)."""
    return await create_workflow(tenant, trigger_type="CLIENT_CREATED", **fields)


async def create_client(tenant: TenantCtx, **fields: Any) -> dict[str, Any]:
    data = {"name": unique("client"), **fields}
    response = await tenant.http.post("/api/v1/clients", json=data)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def set_status(tenant: TenantCtx, client_id: str, status: str) -> dict[str, Any]:
    response = await tenant.http.patch(f"/api/v1/clients/{client_id}", json={"status": status})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# Keyword names the helpers take -> the listing's query parameters (`client`, `workflow`).
_FILTERS = {"workflow_id": "workflow", "client_id": "client"}


async def list_executions(tenant: TenantCtx, **params: Any) -> list[dict[str, Any]]:
    query = {_FILTERS.get(name, name): value for name, value in params.items()}
    response = await tenant.http.get("/api/v1/executions", params={"limit": 200, **query})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def get_execution(tenant: TenantCtx, execution_id: str) -> dict[str, Any]:
    response = await tenant.http.get(f"/api/v1/executions/{execution_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_executions(
    tenant: TenantCtx, *, count: int = 1, terminal: bool = True, **params: Any
) -> list[dict[str, Any]]:
    """At least `count` executions matching params, all finished (when terminal)."""

    def done(items: list[dict[str, Any]]) -> bool:
        return len(items) >= count and (not terminal or all(i["status"] in TERMINAL for i in items))

    return await wait_for(
        lambda: list_executions(tenant, **params), until=done, what=f"executions {params}"
    )


async def wait_status(tenant: TenantCtx, execution_id: str, *statuses: str) -> dict[str, Any]:
    return await wait_for(
        lambda: get_execution(tenant, execution_id),
        until=lambda e: e["status"] in statuses,
        what=f"execution {execution_id} in {statuses}",
    )


async def wait_retrying(tenant: TenantCtx, execution_id: str) -> dict[str, Any]:
    """The execution has logged a RETRYING attempt (a step is failing and being retried)."""
    return await wait_for(
        lambda: get_execution(tenant, execution_id),
        until=lambda e: any(log["status"] == "RETRYING" for log in e["logs"]),
        what=f"execution {execution_id} to retry a step",
    )


async def wait_dispatched(event_ids: list[UUID | str]) -> None:
    """Every event has been through matching (whatever it started)."""
    ids = [UUID(str(i)) for i in event_ids]

    async def pending() -> int:
        return int(
            await fetchval(
                "SELECT count(*) FROM events WHERE id = ANY($1::uuid[]) AND dispatched_at IS NULL",
                ids,
            )
        )

    await wait_for(pending, until=lambda n: n == 0, what="events dispatched")


async def client_events(client_id: str) -> list[Any]:
    return await fetch(
        "SELECT id, type, payload, depth, caused_by_execution, dispatched_at FROM events "
        "WHERE client = $1 ORDER BY created_at, depth",
        UUID(client_id),
    )


async def count(sql: str, *args: Any) -> int:
    return int(await fetchval(sql, *args))


def task_step(assignee: UUID, *, attempts: int, backoff_s: float) -> dict[str, Any]:
    """A CREATE_TASK whose assignee does not exist yet: a real failure that a retry can fix."""
    return {
        "type": "CREATE_TASK",
        "config": {"title": "Follow up {{client.name}}", "assignee": str(assignee)},
        "retry": {"max_attempts": attempts, "backoff_s": backoff_s, "max_backoff_s": backoff_s},
    }


async def add_user(tenant: TenantCtx, user_id: UUID) -> None:
    """The missing assignee appears (as if an admin created them meanwhile)."""
    async with unit_of_work():
        await fetch(
            "INSERT INTO users (id, tenant, email, name, role, is_active, created_at, updated_at)"
            " VALUES ($1, $2, $3, 'Late', 'member', true, now(), now())",
            user_id,
            tenant.tenant_id,
            f"late-{user_id.hex[:8]}@x.test",
        )


async def note_task_note(
    tenant: TenantCtx, assignee: UUID, *, attempts: int, backoff_s: float, last: str | None = "last"
) -> dict[str, Any]:
    """A CLIENT_CREATED workflow: a note, a task_step for assignee, then (unless None) a note."""
    actions = [
        {"type": "ADD_NOTE", "config": {"body": "first"}},
        task_step(assignee, attempts=attempts, backoff_s=backoff_s),
    ]
    if last is not None:
        actions.append({"type": "ADD_NOTE", "config": {"body": last}})
    return await create_workflow(tenant, trigger_type="CLIENT_CREATED", actions=actions)


async def failing_first_step(tenant: TenantCtx, note_body: str) -> dict[str, Any]:
    """A CLIENT_CREATED workflow whose ADD_NOTE (note_body) fails, before an ADD_TAG `never`."""
    return await create_workflow(
        tenant,
        trigger_type="CLIENT_CREATED",
        actions=[
            {"type": "ADD_NOTE", "config": {"body": note_body}},
            {"type": "ADD_TAG", "config": {"tag": "never"}},
        ],
    )


async def status_workflow(
    tenant: TenantCtx, name: str, *, to: str | None = None, vip_only: bool = False
) -> dict[str, Any]:
    """A CLIENT_STATUS_CHANGED workflow running NOTE: for changes to `to`, or VIP clients only."""
    return await create_workflow(
        tenant,
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config=None if to is None else {"to": to},
        conditions=VIP if vip_only else None,
        actions=NOTE,
        name=name,
    )


async def status_event(client_id: str) -> dict[str, Any]:
    """The client's CLIENT_STATUS_CHANGED event (exactly one), once dispatched."""
    [event] = [e for e in await client_events(client_id) if e["type"] == "CLIENT_STATUS_CHANGED"]
    await wait_dispatched([event["id"]])
    return dict(event)
