"""A `crmflow worker` killed with SIGKILL mid-execution: restarted, it finishes the execution
without repeating any committed step's effect."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from app.core.config import PROJECT_ROOT
from app.worker import runtime as rt
from tests.conftest import TenantCtx
from tests.engine.conftest import Backend
from tests.engine.helpers import (
    count,
    create_client,
    create_workflow,
    get_execution,
    wait_executions,
    wait_for,
    wait_status,
)
from tests.engine.test_durability import add_user, task_step


@pytest.fixture
async def api_worker_paused(backend: Backend) -> AsyncIterator[None]:
    """Only the subprocess works jobs while this test runs (the API still enqueues)."""
    runtime = rt.current()
    assert runtime is not None
    await runtime.stop_worker()
    try:
        yield
    finally:
        runtime.start_worker()


@contextmanager
def worker_process(
    backend: Backend, database_url: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "INFO"}
    if backend.queue_url:
        env["QUEUE_URL"] = backend.queue_url
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--queue-name", backend.queue_name],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_sigkill_mid_execution_resumes_without_repeating(
    backend: Backend,
    tenant: TenantCtx,
    database_url: str,
    api_worker_paused: None,
    tmp_path: Path,
) -> None:
    assignee = uuid4()
    wf = await create_workflow(
        tenant,
        trigger_type="CLIENT_CREATED",
        actions=[
            {"type": "ADD_NOTE", "config": {"body": "first"}},
            task_step(assignee, attempts=10, backoff_s=1.0),
            {"type": "ADD_NOTE", "config": {"body": "last"}},
        ],
    )
    log = tmp_path / "worker.log"
    with worker_process(backend, database_url, log) as first:
        client = await create_client(tenant)
        [execution] = await wait_executions(tenant, workflow_id=wf["id"], terminal=False)
        # Mid-execution: step 0 committed, step 1 failing and being retried by this process.
        await wait_for(
            lambda: get_execution(tenant, execution["id"]),
            until=lambda e: any(log["status"] == "RETRYING" for log in e["logs"]),
            what="the worker to be retrying step 1",
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    killed = await get_execution(tenant, execution["id"])
    assert (killed["status"], killed["current_step"]) == ("RUNNING", 1)

    await add_user(tenant, assignee)
    with worker_process(backend, database_url, log):
        done = await wait_status(tenant, execution["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", log.read_text()[-3000:]
    cid = UUID(client["id"])
    notes = await count("SELECT count(*) FROM notes WHERE client = $1", cid)
    tasks = await count("SELECT count(*) FROM tasks WHERE client = $1", cid)
    assert (notes, tasks) == (2, 1)
    successes = [log["step_index"] for log in done["logs"] if log["status"] == "SUCCESS"]
    assert successes == [0, 1, 2]


async def test_sigterm_hands_back_in_flight_work(
    backend: Backend,
    tenant: TenantCtx,
    database_url: str,
    api_worker_paused: None,
    tmp_path: Path,
) -> None:
    assignee = uuid4()
    wf = await create_workflow(
        tenant,
        trigger_type="CLIENT_CREATED",
        actions=[
            {"type": "ADD_NOTE", "config": {"body": "first"}},
            task_step(assignee, attempts=10, backoff_s=1.0),
        ],
    )
    log = tmp_path / "worker.log"
    with worker_process(backend, database_url, log) as first:
        client = await create_client(tenant)
        [execution] = await wait_executions(tenant, workflow_id=wf["id"], terminal=False)
        await wait_for(
            lambda: get_execution(tenant, execution["id"]),
            until=lambda e: any(log["status"] == "RETRYING" for log in e["logs"]),
            what="the worker to be retrying step 1",
        )
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    # A clean exit, not a kill: the grace period ended and the job was handed back.
    assert first.returncode == 0, log.read_text()[-3000:]

    await add_user(tenant, assignee)
    with worker_process(backend, database_url, log):
        done = await wait_status(tenant, execution["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", log.read_text()[-3000:]
    cid = UUID(client["id"])
    notes = await count("SELECT count(*) FROM notes WHERE client = $1", cid)
    tasks = await count("SELECT count(*) FROM tasks WHERE client = $1", cid)
    assert (notes, tasks) == (1, 1)
