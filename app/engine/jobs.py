"""The engine's SAQ jobs and sweeps. Jobs take ids, reload, and are safe to run twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from uuid import UUID

import structlog

from app.core.request_context import Actor, set_actor
from app.core.sql import fetch
from app.core.uow import enqueue_after_commit, unit_of_work
from app.engine.locks import LOCKS
from app.engine.matching import claim_events, executions_to_resume
from app.engine.runner import run_executions
from app.worker.enqueue import enqueue_all_past_dead, job_name, run_job
from app.worker.queue import HEARTBEAT_EVERY_S

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
    """Create the executions these events start and run them (resuming any left unfinished)."""
    set_actor(Actor())
    async with unit_of_work():
        claim = await claim_events(event_ids)
    to_run = list(claim.created)
    if claim.redelivered:
        to_run += await executions_to_resume(claim.redelivered)
    await run_executions(to_run)
    return {"events": len(event_ids), "executions": len(claim.created)}


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
    """Claim committed events that never reached the queue (a crash between commit and enqueue).

    The claim (executions + dispatched_at) commits here, so the next tick never sees these events
    again; the executions themselves run as queue jobs.
    """
    rows = await fetch(
        f"""
        SELECT id FROM events
        WHERE dispatched_at IS NULL AND created_at < now() - interval '{UNDISPATCHED_GRACE_S} s'
        ORDER BY created_at LIMIT {SWEEP_LIMIT}
        """  # noqa: S608 - constants only
    )
    ids = [r["id"] for r in rows]
    if not ids:
        return {"events": 0, "executions": 0}
    set_actor(Actor())
    async with unit_of_work():
        claim = await claim_events(ids)
        enqueue_after_commit(
            partial(enqueue_all_past_dead, "engine.run_execution", map(run_job, claim.created))
        )
    return {"events": len(ids), "executions": len(claim.created)}


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
