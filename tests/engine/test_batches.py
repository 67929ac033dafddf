"""The executions of one job run together, step by step: one commit per step for all of them.

An execution cancelled while its batch runs a step is left out (its step never happened) and the
others commit; a worker killed during a batched step repeats nothing when the work resumes.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from app.engine.actions import HANDLERS
from app.engine.actions.base import StepContext
from tests.conftest import TenantCtx
from tests.engine.conftest import Backend
from tests.engine.helpers import (
    count,
    on_client_created,
    wait_executions,
    wait_status,
)
from tests.engine.test_crash import api_worker_paused, worker_process  # noqa: F401

N = 6


async def _sync_clients(tenant: TenantCtx, prefix: str, n: int = N) -> list[str]:
    """n clients in one request: one transaction, their events in one queue job."""
    response = await tenant.http.post(
        "/api/v1/clients/batch",
        json={"items": [{"external_id": f"{prefix}{i}", "name": f"C{i}"} for i in range(n)]},
    )
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["items"]]


async def test_a_cancel_mid_step_leaves_that_execution_alone_and_commits_the_others(
    backend: Backend, tenant: TenantCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = await on_client_created(
        tenant,
        actions=[
            {"type": "ADD_NOTE", "config": {"body": "first"}},
            {"type": "ADD_NOTE", "config": {"body": "second"}},
        ],
    )
    real = HANDLERS["ADD_NOTE"]
    calls: list[tuple[UUID, int]] = []
    victim: list[UUID] = []

    async def cancel_then_note(ctx: StepContext, config: Any) -> dict[str, Any]:
        calls.append((ctx.execution_id, ctx.step_index))
        if not victim and ctx.step_index == 0:
            # An operator cancels this execution while its batch is running step 0 (before
            # this step wrote anything that references it, so the cancel does not wait).
            victim.append(ctx.execution_id)
            response = await tenant.http.post(f"/api/v1/executions/{ctx.execution_id}/cancel")
            assert response.status_code == 200, response.text
        return await real(ctx, config)

    monkeypatch.setitem(HANDLERS, "ADD_NOTE", cancel_then_note)
    clients = await _sync_clients(tenant, "cancel")
    executions = await wait_executions(tenant, workflow_id=wf["id"], count=N)
    assert len(victim) == 1
    by_id = {e["id"]: e for e in executions}
    cancelled = by_id[str(victim[0])]
    assert (cancelled["status"], cancelled["current_step"]) == ("CANCELLED", 0)
    others = [e for e in executions if e["id"] != str(victim[0])]
    assert {e["status"] for e in others} == {"COMPLETED"}

    # The victim's note of step 0 was rolled back with its step; nothing else ran for it.
    victim_client = UUID(cancelled["client_id"])
    assert await count("SELECT count(*) FROM notes WHERE client = $1", victim_client) == 0
    assert (
        await count("SELECT count(*) FROM workflow_execution_logs WHERE execution = $1", victim[0])
        == 0
    )
    # The others: each step once (the batch that met the cancel was rolled back and rerun).
    for client in clients:
        if UUID(client) != victim_client:
            assert await count("SELECT count(*) FROM notes WHERE client = $1", UUID(client)) == 2
    for e in others:
        successes = await count(
            "SELECT count(*) FROM workflow_execution_logs WHERE execution = $1 "
            "AND status = 'SUCCESS'",
            UUID(e["id"]),
        )
        assert successes == 2
    # Step by step: every execution's step 0 ran before any execution's step 1.
    first_step_1 = min(i for i, (_, step) in enumerate(calls) if step == 1)
    assert {x for x, step in calls[:first_step_1] if step == 0} >= {UUID(e["id"]) for e in others}


async def _step_logs(conn: asyncpg.Connection, workflow_id: str, step: int) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM workflow_execution_logs l "
        "JOIN workflow_executions x ON x.id = l.execution "
        "WHERE x.workflow = $1 AND l.step_index = $2",
        UUID(workflow_id),
        step,
    )
    return int(value)


async def test_sigkill_during_a_batched_step_repeats_nothing(
    backend: Backend,
    tenant: TenantCtx,
    database_url: str,
    api_worker_paused: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    # Slow templates keep the batch's transaction open long enough to kill the worker inside it.
    # (27,000 empty loop iterations, about 0.1 s each, well inside the template budget.)
    x = "x" * 30
    slow = (
        f"{{% for a in '{x}' %}}{{% for b in '{x}' %}}{{% for c in '{x}' %}}"
        "{% endfor %}{% endfor %}{% endfor %}"
    )
    wf = await on_client_created(
        tenant,
        actions=[
            {"type": "ADD_NOTE", "config": {"body": "first"}},
            {"type": "ADD_NOTE", "config": {"body": "second " + slow}},
            {"type": "ADD_TAG", "config": {"tag": "done"}},
        ],
    )
    log = tmp_path / "worker.log"
    watcher = await asyncpg.connect(database_url)
    try:
        with worker_process(backend, database_url, log) as first:
            clients = await _sync_clients(tenant, "kill")
            # Step 0 committed for the whole batch: step 1 (slow) is under way in one
            # transaction for all of them. Kill the worker there.
            for _ in range(3000):
                if await _step_logs(watcher, wf["id"], 0) >= N:
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("step 0 never committed")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        # The kill came before step 1 could commit for all of them (0.1 s of template each).
        assert await _step_logs(watcher, wf["id"], 1) < N
    finally:
        await watcher.close()
    assert first.returncode == -signal.SIGKILL, log.read_text()[-3000:]

    with worker_process(backend, database_url, log):
        executions = await wait_executions(tenant, workflow_id=wf["id"], count=N, terminal=False)
        for e in executions:
            done = await wait_status(tenant, e["id"], "COMPLETED", "FAILED")
            assert done["status"] == "COMPLETED", log.read_text()[-3000:]
            successes = [x["step_index"] for x in done["logs"] if x["status"] == "SUCCESS"]
            assert successes == [0, 1, 2]
    for client in clients:
        cid = UUID(client)
        assert await count("SELECT count(*) FROM notes WHERE client = $1", cid) == 2
        tags = await count(
            "SELECT count(*) FROM clients WHERE id = $1 AND tags = ARRAY['done']::varchar[]", cid
        )
        assert tags == 1
