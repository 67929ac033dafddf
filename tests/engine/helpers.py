"""Small explicit helpers for engine and executions tests: everything through the API."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from app.core.sql import fetch, fetchval
from tests.conftest import TenantCtx

T = TypeVar("T")

DEADLINE_S = 60.0
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


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
