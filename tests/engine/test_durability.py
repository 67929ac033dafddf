"""Retries, DELAY across a worker restart, exactly-once under redelivery, the loop guard."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

from app.core.sql import fetch, fetchrow
from app.core.uow import unit_of_work
from app.engine.jobs import handle_events
from app.events.service import record_event
from app.worker import runtime as rt
from app.worker.enqueue import get_queue
from app.worker.queue import JOB_OPTIONS
from tests.conftest import TenantCtx
from tests.engine.conftest import Backend
from tests.engine.helpers import (
    add_user,
    client_events,
    count,
    create_client,
    create_workflow,
    get_execution,
    on_client_created,
    set_status,
    task_step,
    unique,
    wait_dispatched,
    wait_executions,
    wait_for,
    wait_retrying,
    wait_status,
)


async def test_retries_then_failure(backend: Backend, tenant: TenantCtx) -> None:
    wf = await on_client_created(
        tenant,
        actions=[task_step(uuid4(), attempts=3, backoff_s=0.05)],
    )
    await create_client(tenant)
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert execution["status"] == "FAILED"
    assert "assignee" in execution["error_message"]
    logs = (await get_execution(tenant, execution["id"]))["logs"]
    assert [(log["status"], log["attempt"]) for log in logs] == [
        ("RETRYING", 1),
        ("RETRYING", 2),
        ("FAILED", 3),
    ]


async def test_retries_then_success(backend: Backend, tenant: TenantCtx) -> None:
    assignee = uuid4()
    wf = await on_client_created(
        tenant,
        actions=[task_step(assignee, attempts=10, backoff_s=0.5)],
    )
    client = await create_client(tenant)
    [running] = await wait_executions(tenant, workflow_id=wf["id"], terminal=False)
    await wait_retrying(tenant, running["id"])
    await add_user(tenant, assignee)
    done = await wait_status(tenant, running["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED"
    statuses = [log["status"] for log in done["logs"]]
    assert statuses[-1] == "SUCCESS"
    assert set(statuses[:-1]) == {"RETRYING"}
    tasks = await fetch("SELECT assignee FROM tasks WHERE client = $1", UUID(client["id"]))
    assert [t["assignee"] for t in tasks] == [assignee]


async def test_delay_survives_a_worker_restart(backend: Backend, tenant: TenantCtx) -> None:
    wf = await on_client_created(
        tenant,
        actions=[
            {"type": "ADD_NOTE", "config": {"body": "before"}},
            {"type": "DELAY", "config": {"duration": {"seconds": 3}}},
            {"type": "ADD_NOTE", "config": {"body": "after"}},
        ],
    )
    client = await create_client(tenant)
    [execution] = await wait_executions(tenant, workflow_id=wf["id"], terminal=False)
    waiting = await wait_status(tenant, execution["id"], "WAITING")
    assert waiting["resume_at"] is not None
    assert waiting["current_step"] == 2

    runtime = rt.current()
    assert runtime is not None
    await runtime.stop_worker()
    runtime.start_worker()

    done = await wait_status(tenant, execution["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED"
    notes = await fetch(
        "SELECT body FROM notes WHERE client = $1 ORDER BY created_at", UUID(client["id"])
    )
    assert [n["body"] for n in notes] == ["before", "after"]


async def test_one_execution_however_often_the_event_is_enqueued(
    backend: Backend, tenant: TenantCtx
) -> None:
    wf = await create_workflow(
        tenant,
        trigger_type="CUSTOM",
        trigger_config={"event": "dup.test"},
        actions=[
            {"type": "CREATE_TASK", "config": {"title": "once"}},
            {"type": "ADD_NOTE", "config": {"body": "once"}},
        ],
    )
    client = await create_client(tenant)
    async with unit_of_work():
        event = await record_event(
            tenant_id=tenant.tenant_id, type="dup.test", client_id=UUID(client["id"])
        )
    queue = get_queue()
    assert queue is not None
    await asyncio.gather(
        *(
            queue.enqueue(
                "engine.process_events",
                key=f"dup:{event.id}:{i}",
                event_ids=[str(event.id)],
                **JOB_OPTIONS,
            )
            for i in range(20)
        ),
        *(handle_events([event.id]) for _ in range(5)),
    )
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert execution["status"] == "COMPLETED"
    await asyncio.sleep(1)  # let stragglers of the 20 jobs finish: they must change nothing
    cid = UUID(client["id"])
    assert (
        await count("SELECT count(*) FROM workflow_executions WHERE workflow = $1", UUID(wf["id"]))
        == 1
    )
    assert await count("SELECT count(*) FROM tasks WHERE client = $1", cid) == 1
    assert await count("SELECT count(*) FROM notes WHERE client = $1", cid) == 1
    logs = (await get_execution(tenant, execution["id"]))["logs"]
    assert [(log["step_index"], log["status"]) for log in logs] == [(0, "SUCCESS"), (1, "SUCCESS")]


async def test_loop_guard_stops_a_self_retriggering_workflow(
    backend: Backend, tenant: TenantCtx
) -> None:
    from app.core.config import get_settings

    max_depth = get_settings().max_chain_depth
    flip_off = await create_workflow(
        tenant,
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config={"to": "ACTIVE"},
        actions=[{"type": "UPDATE_CLIENT", "config": {"status": "INACTIVE"}}],
        name=unique("flip-off"),
    )
    flip_on = await create_workflow(
        tenant,
        trigger_type="CLIENT_STATUS_CHANGED",
        trigger_config={"to": "INACTIVE"},
        actions=[{"type": "UPDATE_CLIENT", "config": {"status": "ACTIVE"}}],
        name=unique("flip-on"),
    )
    client = await create_client(tenant)
    await set_status(tenant, client["id"], "ACTIVE")

    async def deepest() -> list[Any]:
        return [e for e in await client_events(client["id"]) if e["depth"] > max_depth]

    [stopped] = await wait_for(deepest, what="an event past the chain limit")
    await wait_dispatched([e["id"] for e in await client_events(client["id"])])
    await asyncio.sleep(0.5)

    executions = await fetch(
        "SELECT id, depth, status FROM workflow_executions WHERE client = $1 ORDER BY depth",
        UUID(client["id"]),
    )
    assert [e["depth"] for e in executions] == list(range(max_depth + 1))
    assert all(e["status"] == "COMPLETED" for e in executions)
    assert {str(w) for w in [flip_off["id"], flip_on["id"]]}
    # The event past the limit is recorded but started nothing; the causing execution says why.
    assert stopped["depth"] == max_depth + 1
    assert (
        await count("SELECT count(*) FROM workflow_executions WHERE event = $1", stopped["id"]) == 0
    )
    guard = await fetchrow(
        "SELECT status, action_type, error_message FROM workflow_execution_logs "
        "WHERE execution = $1 AND status = 'SKIPPED'",
        stopped["caused_by_execution"],
    )
    assert guard is not None
    assert guard["action_type"] == "LOOP_GUARD"
    assert f"maximum of {max_depth}" in guard["error_message"]


async def test_an_event_committed_but_never_enqueued_is_run_by_the_sweep(
    backend: Backend, tenant: TenantCtx
) -> None:
    """A crash between commit and enqueue: the row is in the outbox, nothing is on the queue."""
    name = unique("lost.event")
    wf = await create_workflow(
        tenant,
        trigger_type="CUSTOM",
        trigger_config={"event": name},
        actions=[{"type": "ADD_NOTE", "config": {"body": "found by the sweep"}}],
    )
    client = await create_client(tenant)
    # Written as the outbox writes it, but outside unit_of_work(): no after-commit enqueue.
    event_id = uuid4()
    await fetch(
        "INSERT INTO events (id, tenant, type, client, payload, depth, created_at) "
        "VALUES ($1, $2, $3, $4, '{}'::jsonb, 0, now())",
        event_id,
        tenant.tenant_id,
        name,
        UUID(client["id"]),
    )
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert execution["status"] == "COMPLETED"
    assert execution["event_id"] == str(event_id)
    await wait_dispatched([event_id])
    notes = await count(
        "SELECT count(*) FROM notes WHERE client = $1 AND body = 'found by the sweep'",
        UUID(client["id"]),
    )
    assert notes == 1
