"""GET /metrics moves by the right amounts when executions run; a worker serves its own."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from app.core.config import PROJECT_ROOT, get_settings
from tests.conftest import TenantCtx
from tests.engine.helpers import create_client, create_workflow, wait_executions, wait_for
from tests.operations.helpers import scrape


@pytest.fixture
def workflow_label() -> Iterator[None]:
    """METRICS_WORKFLOW_LABEL=true for one test, so its series are its own (exact deltas)."""
    os.environ["METRICS_WORKFLOW_LABEL"] = "true"
    get_settings.cache_clear()
    try:
        yield
    finally:
        del os.environ["METRICS_WORKFLOW_LABEL"]
        get_settings.cache_clear()


async def test_execution_metrics_move_by_the_right_amounts(
    tenant: TenantCtx, anon: httpx.AsyncClient, workflow_label: None
) -> None:
    ok = await create_workflow(
        tenant,
        trigger_type="CLIENT_CREATED",
        actions=[
            {"type": "ADD_TAG", "config": {"tag": "one"}},
            {"type": "ADD_TAG", "config": {"tag": "two"}},
        ],
    )
    before = await scrape(anon)
    for _ in range(3):
        await create_client(tenant)
    await wait_executions(tenant, count=3, workflow_id=ok["id"])
    after = await scrape(anon)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    wf = {"workflow_id": ok["id"]}
    assert delta("crmflow_executions_finished_total", status="COMPLETED", **wf) == 3
    assert delta("crmflow_executions_finished_total", status="FAILED", **wf) == 0
    assert delta("crmflow_execution_duration_seconds_count", status="COMPLETED", **wf) == 3
    assert delta("crmflow_execution_duration_seconds_sum", status="COMPLETED", **wf) > 0
    # Six ADD_TAG attempts at least (other tests' executions may run meanwhile: at least).
    assert delta("crmflow_step_attempts_total", action_type="ADD_TAG", outcome="SUCCESS") >= 6
    assert delta("crmflow_step_duration_seconds_count", action_type="ADD_TAG") >= 6
    assert delta("crmflow_event_to_execution_start_seconds_count") >= 3
    # HTTP metrics by route template, not by raw path.
    assert delta("crmflow_http_requests_total", path="/api/v1/clients", method="POST") >= 3
    paths = {s[1]["path"] for s in after.samples if "path" in s[1]}
    assert "/api/v1/clients" in paths
    assert not [p for p in paths if re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", p)], paths
    # Queue gauges are read at scrape time.
    assert any(s[0] == "crmflow_queue_depth" for s in after.samples)
    assert any(s[0] == "crmflow_queue_oldest_job_age_seconds" for s in after.samples)


async def test_failed_step_and_webhook_outcome(
    tenant: TenantCtx, anon: httpx.AsyncClient, workflow_label: None
) -> None:
    failing = await create_workflow(
        tenant,
        trigger_type="CLIENT_CREATED",
        # A private address is refused by the address guard: failed at once, never retried.
        actions=[{"type": "WEBHOOK", "config": {"url": "http://10.255.255.1/hook"}}],
    )
    before = await scrape(anon)
    await create_client(tenant)
    [execution] = await wait_executions(tenant, count=1, workflow_id=failing["id"])
    assert execution["status"] == "FAILED"
    after = await scrape(anon)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    wf = {"workflow_id": failing["id"]}
    assert delta("crmflow_executions_finished_total", status="FAILED", **wf) == 1
    assert delta("crmflow_execution_duration_seconds_count", status="FAILED", **wf) == 1
    assert delta("crmflow_step_attempts_total", action_type="WEBHOOK", outcome="FAILED") >= 1
    assert delta("crmflow_webhook_deliveries_total", outcome="refused") >= 1


async def test_workflow_label_is_opt_in(tenant: TenantCtx, anon: httpx.AsyncClient) -> None:
    wf = await create_workflow(
        tenant, trigger_type="CLIENT_CREATED", actions=[{"type": "ADD_TAG", "config": {"tag": "x"}}]
    )
    await create_client(tenant)
    await wait_executions(tenant, count=1, workflow_id=wf["id"])
    after = await scrape(anon)
    assert after.value("crmflow_executions_finished_total", workflow_id=wf["id"]) == 0
    assert after.value("crmflow_executions_finished_total", workflow_id="") >= 1


async def test_standalone_worker_serves_metrics_on_its_own_port(database_url: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WORKER_METRICS_PORT": "0",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    queue = f"crmflow-metrics-{os.urandom(4).hex()}"
    process = subprocess.Popen(  # noqa: ASYNC220 - a worker process for the whole test
        [sys.executable, "-m", "app.cli", "worker", "--queue-name", queue],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        port = None
        lines: list[str] = []
        while port is None:
            line = (await asyncio.to_thread(process.stdout.readline)).decode()
            assert line, f"worker exited: {lines[-20:]}"
            lines.append(line)
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == "worker.started":
                    port = record["metrics_port"]
        async with httpx.AsyncClient(timeout=10) as http:
            scraped = await wait_for(
                lambda: scrape(http, f"http://127.0.0.1:{port}/metrics"),
                until=lambda s: any(x[0] == "crmflow_queue_depth" for x in s.samples),
                what="the worker's queue gauges",
            )
        assert scraped.value("crmflow_queue_depth", queue=queue) == 0
        process.terminate()  # SIGTERM on an idle worker: a clean exit, no warning
        rest, _ = await asyncio.to_thread(process.communicate, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    lines += rest.decode().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert [r for r in records if r["level"] not in ("debug", "info")] == []
