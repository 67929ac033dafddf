"""Recovery that a dead worker cannot hold back: the sweep lease moves on, dead jobs' keys free.

A SIGKILLed worker leaves its SAQ jobs "active" and, before this design, its sweeps' keys taken.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from uuid import UUID, uuid4

from app.core.sql import fetchval
from app.core.uow import set_event_dispatcher, unit_of_work
from app.events.service import record_event
from app.worker import runtime as rt
from app.worker.enqueue import enqueue_all_past_dead, enqueue_past_dead, set_queue
from app.worker.queue import build_queue
from app.worker.sweeps import LEASE_KEYSPACE
from tests.conftest import TenantCtx
from tests.engine.conftest import Backend
from tests.engine.helpers import create_client, create_workflow, wait_executions, wait_for
from tests.engine.test_crash import api_worker_paused, worker_process

__all__ = ["api_worker_paused"]


async def _queued_keys(queue: object, prefix: str) -> list[str]:
    from saq import Queue
    from saq.job import Status

    assert isinstance(queue, Queue)
    return [
        job.key
        async for job in queue.iter_jobs(statuses=[Status.QUEUED])
        if job.key.startswith(prefix)
    ]


async def _take_and_die(queue: object) -> str:
    """What a worker does with a job before a SIGKILL: dequeue it and mark it active."""
    from saq import Queue
    from saq.job import Status
    from saq.utils import now

    assert isinstance(queue, Queue)
    job = await queue.dequeue(timeout=5)
    assert job is not None
    await job.update(status=Status.ACTIVE, started=now())
    return job.key


async def test_a_job_left_active_by_a_dead_worker_does_not_block_its_key(
    backend: Backend,
) -> None:
    from saq.job import Status

    live = rt.current()
    assert live is not None
    # A queue nobody works: dequeuing a job and never finishing it is what a SIGKILL leaves.
    queue = build_queue(backend.queue_url, name=f"dead-{os.urandom(4).hex()}")
    await queue.connect()
    key = f"run:{uuid4()}"
    try:
        await queue.enqueue("engine.run_execution", key=key, execution_id=str(uuid4()))
        assert await _take_and_die(queue) == key
        set_queue(queue)
        assert await enqueue_past_dead("engine.run_execution", key=key, execution_id="x")
        # Every later tick lands on the same replacement instead of adding one.
        assert await enqueue_past_dead("engine.run_execution", key=key, execution_id="x")
        replacements = await _queued_keys(queue, key)
        assert len(replacements) == 1
        assert replacements[0] != key
        dead = await queue.job(key)
        assert dead is not None
        assert dead.status is Status.ACTIVE

        # The replacement's worker dies too: the next tick steps past both.
        assert await _take_and_die(queue) == replacements[0]
        assert await enqueue_past_dead("engine.run_execution", key=key, execution_id="x")
        third = await _queued_keys(queue, key)
        assert len(third) == 1
        assert third[0] not in (key, replacements[0])
    finally:
        rt.activate(live)
        await queue.disconnect()


async def test_a_sweep_enqueues_only_what_has_no_waiting_job(backend: Backend) -> None:
    """Queued: kept as is; left active by a dead worker: stepped past; missing: enqueued."""
    live = rt.current()
    assert live is not None
    queue = build_queue(backend.queue_url, name=f"dead-{os.urandom(4).hex()}")
    await queue.connect()
    dead, waiting, missing = (f"run:{uuid4()}" for _ in range(3))
    try:
        await queue.enqueue("engine.run_execution", key=dead, execution_id="x")
        assert await _take_and_die(queue) == dead
        await queue.enqueue("engine.run_execution", key=waiting, execution_id="x")
        set_queue(queue)
        jobs = [{"key": k, "execution_id": "x"} for k in (dead, waiting, missing)]
        assert await enqueue_all_past_dead("engine.run_execution", jobs) == 3
        queued = await _queued_keys(queue, "run:")
        assert sorted(queued) == sorted([waiting, missing, *[k for k in queued if "~" in k]])
        assert [k.split("~")[0] for k in queued if "~" in k] == [dead]
        # The next tick changes nothing.
        assert await enqueue_all_past_dead("engine.run_execution", jobs) == 3
        assert sorted(await _queued_keys(queue, "run:")) == sorted(queued)
    finally:
        rt.activate(live)
        await queue.disconnect()


async def _lease_holders(queue_name: str) -> int:
    return int(
        await fetchval(
            """
            SELECT count(*) FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND objsubid = 2
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND classid = $1::oid AND objid = (hashtext($2)::bigint & 4294967295)::oid
            """,
            LEASE_KEYSPACE,
            queue_name,
        )
    )


async def test_sweeps_move_to_another_worker_when_the_leader_is_killed(
    backend: Backend,
    tenant: TenantCtx,
    database_url: str,
    api_worker_paused: None,
    tmp_path: Path,
) -> None:
    name = f"swept-{os.urandom(3).hex()}"
    wf = await create_workflow(
        tenant,
        trigger_type="CUSTOM",
        trigger_config={"event": name},
        actions=[{"type": "ADD_TAG", "config": {"tag": "swept"}}],
    )
    client = await create_client(tenant)
    log = tmp_path / "worker.log"
    with worker_process(backend, database_url, log) as leader:
        await wait_for(
            lambda: _lease_holders(backend.queue_name), until=lambda n: n == 1, what="a leader"
        )
        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=30)
    # Committed, but its enqueue "lost" (no dispatcher): only the dispatch sweep can find it.
    live = rt.current()
    assert live is not None
    set_event_dispatcher(None)
    try:
        async with unit_of_work():
            event = await record_event(
                tenant_id=tenant.tenant_id, type=name, client_id=UUID(client["id"])
            )
    finally:
        rt.activate(live)
    # The server notices the dead session (and drops its lock) once its backend reads EOF.
    await wait_for(
        lambda: _lease_holders(backend.queue_name), until=lambda n: n == 0, what="no leader"
    )
    with worker_process(backend, database_url, log):
        [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert execution["status"] == "COMPLETED", log.read_text()[-3000:]
    assert UUID(execution["event_id"]) == event.id
