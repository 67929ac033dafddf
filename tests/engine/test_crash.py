"""A `crmflow worker` stopped mid-execution (SIGKILL, or SIGTERM's hand-back): restarted, it
finishes the execution without repeating any committed step's effect."""

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
    add_user,
    count,
    create_client,
    get_execution,
    note_task_note,
    wait_executions,
    wait_retrying,
    wait_status,
)


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
    backend: Backend, database_url: str, log: Path, *, extra_env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "INFO", **(extra_env or {})}
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


@pytest.mark.parametrize(
    ("stop", "exit_code"),
    [
        # Killed outright: the job is found by SAQ's sweep, the execution by ours.
        (signal.SIGKILL, -signal.SIGKILL),
        # A clean exit: the grace period ends and the in-flight job is handed back.
        (signal.SIGTERM, 0),
    ],
    ids=["sigkill", "sigterm"],
)
async def test_worker_stopped_mid_execution_resumes_without_repeating(
    backend: Backend,
    tenant: TenantCtx,
    database_url: str,
    api_worker_paused: None,
    tmp_path: Path,
    stop: signal.Signals,
    exit_code: int,
) -> None:
    assignee = uuid4()
    wf = await note_task_note(tenant, assignee, attempts=10, backoff_s=1.0)
    log = tmp_path / "worker.log"
    with worker_process(backend, database_url, log) as first:
        client = await create_client(tenant)
        [execution] = await wait_executions(tenant, workflow_id=wf["id"], terminal=False)
        # Mid-execution: step 0 committed, step 1 failing and being retried by this process.
        await wait_retrying(tenant, execution["id"])
        first.send_signal(stop)
        first.wait(timeout=30)
    assert first.returncode == exit_code, log.read_text()[-3000:]
    stopped = await get_execution(tenant, execution["id"])
    assert (stopped["status"], stopped["current_step"]) == ("RUNNING", 1)

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
