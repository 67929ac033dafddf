"""A dry run of template bombs answers with the limit each one hit, and the API keeps serving
other requests while it renders (rendering never runs on the event loop)."""

from __future__ import annotations

import asyncio
import threading

import httpx

from app.workflows.templating import (
    _DRY_RUN_THREADS,
    DRY_RUN_THREADS,
    MAX_OPERATIONS,
    off_loop,
    render,
)
from tests.conftest import TenantCtx
from tests.workflows.conftest import create_workflow, make_client

LONG = "y" * 6_000
# Uses the whole operation budget before it is stopped: the slowest a template can be.
BUDGET_EATER = (
    f"{{% for a in '{LONG}' %}}{{% for b in '{LONG}' %}}{{{{ 1 + 1 }}}}{{% endfor %}}{{% endfor %}}"
)
# /health answers required while the dry run waits for the (held) render threads.
MIN_HEALTH_ANSWERS = 5


async def test_dry_run_names_the_limit_each_bomb_hits(tenant: TenantCtx) -> None:
    bombs = {
        "{{ (9**64**64**64**64) > 1 }}": "MAX_INT_BITS",
        "{{ '%200000000s' % 'x' }}": "MAX_FORMAT_WIDTH",
        "{{ client | tojson(indent=10000000) }}": "MAX_JSON_INDENT",
        "{% set x = client.name * 1000 %}" + "{% set x = x ~ x %}" * 40: "MAX_VALUE_CHARS",
        BUDGET_EATER: "MAX_OPERATIONS",
    }
    wf = await create_workflow(
        tenant, actions=[{"type": "ADD_NOTE", "config": {"body": body}} for body in bombs]
    )
    client = await make_client(tenant)
    response = await tenant.http.post(
        f"/api/v1/workflows/{wf['id']}/test", json={"client_id": str(client["id"])}
    )
    assert response.status_code == 200, response.text
    steps = response.json()["actions"]
    for step, limit in zip(steps, bombs.values(), strict=True):
        assert step["config"] is None
        assert step["error"].startswith("template error in body: template limit exceeded")
        assert limit in step["error"], step
    assert f"MAX_OPERATIONS = {MAX_OPERATIONS:,}" in steps[-1]["error"]


async def test_health_answers_while_a_dry_run_renders(
    tenant: TenantCtx, anon: httpx.AsyncClient
) -> None:
    """Deterministic, no clock: the dry-run render thread is held by the test, so the dry run's
    rendering is provably queued on it (not run on the event loop) while /health answers — and
    while the engine's render threads stay free for steps."""
    gate, started = threading.Event(), threading.Barrier(DRY_RUN_THREADS + 1)

    def hold() -> None:
        started.wait()
        gate.wait()

    held = [_DRY_RUN_THREADS.submit(hold) for _ in range(DRY_RUN_THREADS)]
    try:
        await asyncio.to_thread(started.wait)  # every render thread is now held
        wf = await create_workflow(
            tenant, actions=[{"type": "ADD_NOTE", "config": {"body": BUDGET_EATER}}] * 3
        )
        client = await make_client(tenant)
        dry_run = asyncio.create_task(
            tenant.http.post(
                f"/api/v1/workflows/{wf['id']}/test", json={"client_id": str(client["id"])}
            )
        )
        # The dry run reaches the render queue and waits there, with the event loop free.
        while _DRY_RUN_THREADS._work_queue.qsize() == 0:
            assert not dry_run.done(), dry_run.result().text
            await asyncio.sleep(0.01)
        for _ in range(MIN_HEALTH_ANSWERS):
            health = await anon.get("/health")
            assert health.status_code == 200
        # The engine renders on its own threads: a stuck or flooded dry run never delays a step.
        assert await off_loop(render, "{{ workflow.name }}", {"workflow": {"name": "ok"}}) == "ok"
        assert not dry_run.done()
    finally:
        gate.set()
    response = await dry_run
    for future in held:
        future.result()
    assert response.status_code == 200, response.text
    assert all("MAX_OPERATIONS" in step["error"] for step in response.json()["actions"])
