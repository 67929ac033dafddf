"""The engine's SAQ jobs and sweeps. Jobs take ids, reload, and are safe to run twice.

Fairness between tenants (README: "Fairness between tenants"). A job of event ids does not run
those events itself: for each tenant among them it takes one of the tenant's drain slots
(TENANT_CONCURRENCY of them, session advisory locks shared by every worker, see locks.py) and
drains that tenant's outbox, oldest first, DRAIN_BATCH events at a time. When every slot of the
tenant is taken the job ends at once: the slots' holders reach those events, since they drain
the whole outbox of the tenant. So a tenant that floods holds at most TENANT_CONCURRENCY jobs at
once, whatever its backlog, and its surplus jobs cost a lookup each; another tenant's job finds a
free slot of its own as soon as the queue reaches it. The backlog waits in the outbox (durable,
claimed oldest first), not in the queue in front of everybody else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID, uuid4

import structlog

from app.core.config import get_settings
from app.core.request_context import Actor, set_actor
from app.core.sql import fetch
from app.core.uow import unit_of_work
from app.engine.locks import LOCKS
from app.engine.matching import claim_oldest, executions_to_resume, oldest_undispatched
from app.engine.runner import run_executions
from app.worker.enqueue import enqueue_all_past_dead, enqueue_events, job_name, run_job
from app.worker.queue import HEARTBEAT_EVERY_S, JOB_OPTIONS

log = structlog.get_logger("crmflow.engine")

# Events younger than this are still on their way through the after-commit dispatcher.
UNDISPATCHED_GRACE_S = 3
# A PENDING/RUNNING execution untouched this long, and unlocked, lost its worker.
STALE_EXECUTION_S = 5
# A WAITING execution has its own scheduled job (at resume_at, rounded up to the next second):
# the sweep takes it over only once that job had its chance, instead of queueing a second run of
# every DELAY step.
RESUME_GRACE_S = 3
SWEEP_LIMIT = 500
# A drainer claims this many of its tenant's events per transaction (and runs them together).
DRAIN_BATCH = 100
# ... and after this many batches gives its slot back and queues its continuation at the back of
# the queue, so tenants with backlogs take turns on the worker's job slots.
DRAIN_ROUNDS = 10


def tenant_limit() -> int:
    """How many drainers one tenant may have at once, over all workers (TENANT_CONCURRENCY)."""
    return get_settings().tenant_concurrency


@asynccontextmanager
async def heartbeat(ctx: dict[str, Any]) -> AsyncIterator[None]:
    """Touch the SAQ job while it runs, so only a dead worker's job looks stuck."""
    job = ctx.get("job")

    async def beat() -> None:
        assert job is not None
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            try:
                await job.update()
            except Exception:
                log.warning("worker.heartbeat_failed", job=getattr(job, "key", None))

    task = asyncio.create_task(beat()) if job is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()


async def handle_events(event_ids: list[UUID]) -> dict[str, int]:
    """Drain the outbox of every tenant these events belong to (their own turn, see the module
    docstring), and resume what a dead worker left of already-claimed ones."""
    set_actor(Actor())
    rows = await fetch(
        "SELECT id, tenant, dispatched_at FROM events WHERE id = ANY($1::uuid[])", event_ids
    )
    tenants = list(dict.fromkeys(r["tenant"] for r in rows if r["dispatched_at"] is None))
    redelivered = [r["id"] for r in rows if r["dispatched_at"] is not None]
    created = sum(await asyncio.gather(*(drain_tenant(t) for t in tenants)))
    if redelivered:
        # Claimed already: by a drainer (running them, locked: nothing to do) or by a worker
        # that died before finishing them.
        await run_executions(await executions_to_resume(redelivered))
    return {"events": len(event_ids), "executions": created}


async def drain_tenant(tenant_id: UUID) -> int:
    """Claim and run the tenant's undispatched events while holding one of its slots; how many
    executions were created. Nothing when every slot is taken (their holders drain them)."""
    slot = await LOCKS.take_slot(tenant_id, tenant_limit())
    if slot is None:
        return 0
    created = 0
    try:
        for _ in range(DRAIN_ROUNDS):
            async with unit_of_work():
                claimed, claim = await claim_oldest(tenant_id, DRAIN_BATCH)
            created += len(claim.created)
            await run_executions(claim.created)
            if claimed < DRAIN_BATCH:
                break
    finally:
        await LOCKS.give_slot(tenant_id, slot)
    # Jobs that found every slot taken ended without running their events; now that a slot is
    # free, look once more, so none of them waits for the dispatch sweep. What is left goes on
    # in a new job at the back of the queue (a unique key: never refused by an older one).
    left = await oldest_undispatched(tenant_id, DRAIN_BATCH)
    if left:
        await enqueue_events(left, key_prefix=f"drain:{uuid4()}")
    return created


@job_name("engine.process_events")
async def process_events(ctx: dict[str, Any], *, event_ids: list[str]) -> dict[str, int]:
    async with heartbeat(ctx):
        return await handle_events([UUID(i) for i in event_ids])


@job_name("engine.run_execution")
async def run_execution(ctx: dict[str, Any], *, execution_id: str) -> dict[str, str]:
    async with heartbeat(ctx):
        await run_executions([UUID(execution_id)])
    return {"execution_id": execution_id}


async def dispatch_sweep() -> dict[str, int]:
    """Queue a job for each tenant whose committed events never reached the queue (a crash
    between commit and enqueue), or wait in its outbox with nobody draining it.

    One job per tenant, holding its oldest such events: the job drains the tenant's outbox in
    its turn (handle_events), so a backlog comes back through the same fair path, not ahead of
    other tenants' work. A tenant whose slots are all taken is being drained: its job ends at
    once. The key derives from the oldest event, so ticks over a waiting job add nothing.
    """
    rows = await fetch(
        f"""
        WITH RECURSIVE t AS (
            (SELECT tenant FROM events WHERE dispatched_at IS NULL ORDER BY tenant LIMIT 1)
            UNION ALL
            SELECT (SELECT e.tenant FROM events e
                    WHERE e.dispatched_at IS NULL AND e.tenant > t.tenant
                    ORDER BY e.tenant LIMIT 1)
            FROM t WHERE t.tenant IS NOT NULL
        )
        SELECT t.tenant, s.ids FROM t
        CROSS JOIN LATERAL (
            SELECT array_agg(id ORDER BY created_at) AS ids FROM (
                SELECT id, created_at FROM events e
                WHERE e.tenant = t.tenant AND e.dispatched_at IS NULL
                  AND e.created_at < now() - interval '{UNDISPATCHED_GRACE_S} s'
                ORDER BY created_at LIMIT {DRAIN_BATCH}
            ) oldest
        ) s
        WHERE t.tenant IS NOT NULL AND s.ids IS NOT NULL
        LIMIT {SWEEP_LIMIT}
        """  # noqa: S608 - constants only
    )
    if not rows:
        return {"tenants": 0, "events": 0}
    jobs = [
        {"key": f"sweep:{r['ids'][0]}", "event_ids": [str(i) for i in r["ids"]], **JOB_OPTIONS}
        for r in rows
    ]
    await enqueue_all_past_dead("engine.process_events", jobs)
    return {"tenants": len(rows), "events": sum(len(r["ids"]) for r in rows)}


async def recover_sweep() -> dict[str, int]:
    """Resume WAITING executions that are due and take over those whose worker died."""
    rows = await fetch(
        f"""
        (SELECT id FROM workflow_executions
         WHERE status = 'WAITING' AND resume_at <= now() - interval '{RESUME_GRACE_S} s'
         LIMIT {SWEEP_LIMIT})
        UNION ALL
        (SELECT id FROM workflow_executions
         WHERE status IN ('PENDING', 'RUNNING')
           AND updated_at < now() - interval '{STALE_EXECUTION_S} s'
         LIMIT {SWEEP_LIMIT})
        """  # noqa: S608 - constants only
    )
    # Unlocked = no live worker runs it; a job still "active" under its key is a dead worker's.
    free = await LOCKS.free([r["id"] for r in rows])
    await enqueue_all_past_dead("engine.run_execution", map(run_job, free))
    return {"executions": len(free)}
