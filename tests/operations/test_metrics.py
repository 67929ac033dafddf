"""GET /metrics moves by the right amounts when executions run; a worker serves its own."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest

from app.core.config import PROJECT_ROOT, get_settings
from app.core.metrics import refresh_queue_gauges
from app.core.migrate import migrate_forwards
from app.webhooks.signing import SIGNATURE_HEADER
from app.worker.queue import build_queue
from tests.conftest import TenantCtx
from tests.db import create_database, drop_database, server_url
from tests.engine.helpers import (
    create_client,
    create_workflow,
    on_client_created,
    wait_executions,
    wait_for,
)
from tests.operations.helpers import Scrape, scrape
from tests.webhooks.conftest import signed


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
    ok = await on_client_created(
        tenant,
        actions=[
            {"type": "ADD_TAG", "config": {"tag": "one"}},
            {"type": "ADD_TAG", "config": {"tag": "two"}},
            {
                "type": "SEND_EMAIL",
                "config": {"to": "{{ client.email }}", "subject": "Hi", "body": "Hello"},
            },
        ],
    )
    before = await scrape(anon)
    for n in range(3):
        await create_client(tenant, email=f"metrics-{n}@example.test")
    await wait_executions(tenant, count=3, workflow_id=ok["id"])
    after = await scrape(anon)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    # With METRICS_WORKFLOW_LABEL=true every engine series carries the workflow id: these are
    # this test's own, so exact whatever else the worker runs meanwhile.
    wf = {"workflow_id": ok["id"]}
    assert delta("crmflow_executions_finished_total", status="COMPLETED", **wf) == 3
    assert delta("crmflow_executions_finished_total", status="FAILED", **wf) == 0
    assert delta("crmflow_execution_duration_seconds_count", status="COMPLETED", **wf) == 3
    assert delta("crmflow_execution_duration_seconds_sum", status="COMPLETED", **wf) > 0
    assert delta("crmflow_step_attempts_total", action_type="ADD_TAG", outcome="SUCCESS", **wf) == 6
    assert delta("crmflow_step_attempts_total", action_type="SEND_EMAIL", **wf) == 3
    assert delta("crmflow_step_attempts_total", outcome="RETRYING", **wf) == 0
    assert delta("crmflow_step_duration_seconds_count", action_type="ADD_TAG", **wf) == 6
    assert delta("crmflow_step_duration_seconds_count", action_type="SEND_EMAIL", **wf) == 3
    assert delta("crmflow_step_duration_seconds_sum", **wf) > 0
    assert delta("crmflow_event_to_execution_start_seconds_count", **wf) == 3
    assert delta("crmflow_event_to_execution_start_seconds_sum", **wf) > 0
    # A histogram's +Inf bucket counts every observation: the buckets moved with the count.
    assert delta("crmflow_step_duration_seconds_bucket", le="+Inf", **wf) == 9
    # Emails carry no workflow label: this test's three drafts at least (DRAFT_ONLY mode).
    assert delta("crmflow_emails_total", outcome="drafted") >= 3
    # HTTP metrics by route template, not by raw path; only this test posts clients here.
    posted = {"path": "/api/v1/clients", "method": "POST", "status_code": "201"}
    assert delta("crmflow_http_requests_total", **posted) == 3
    assert delta("crmflow_http_request_duration_seconds_count", **posted) == 3
    paths = {s[1]["path"] for s in after.samples if "path" in s[1]}
    assert "/api/v1/clients" in paths
    assert not [p for p in paths if re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", p)], paths
    # Queue gauges are read at scrape time (their values: test_queue_gauges_read_the_queue).
    assert any(s[0] == "crmflow_queue_depth" for s in after.samples)
    assert any(s[0] == "crmflow_queue_oldest_job_age_seconds" for s in after.samples)


async def test_queue_gauges_read_the_queue(database_url: str, anon: httpx.AsyncClient) -> None:
    """Three due jobs on a queue no worker takes: depth 3, and the oldest one's age."""
    queue = build_queue(database_url, name=f"crmflow-gauge-{os.urandom(4).hex()}")
    await queue.connect()
    try:
        empty = await refresh_queue_gauges(queue)
        assert empty == (0, 0.0)
        for n in range(3):
            await queue.enqueue("nobody.works.this", key=f"gauge-{n}")
        await asyncio.sleep(0.05)  # the oldest job has waited a little (no clock asserted)
        depth, age = await refresh_queue_gauges(queue) or (None, None)
        assert depth == 3
        assert age is not None
        assert age > 0
        scraped = Scrape(generate_latest(REGISTRY).decode())
        assert scraped.value("crmflow_queue_depth", queue=queue.name) == 3
        assert scraped.value("crmflow_queue_oldest_job_age_seconds", queue=queue.name) == age
    finally:
        await queue.disconnect()


async def test_inbound_webhook_outcomes_are_counted(
    tenant: TenantCtx, anon: httpx.AsyncClient
) -> None:
    created = await tenant.http.post(
        "/api/v1/webhook-sources", json={"source": f"metrics-{os.urandom(3).hex()}"}
    )
    assert created.status_code == 201, created.text
    source: dict[str, Any] = created.json()
    before = await scrape(anon)
    raw, headers = signed(source["secret"], {"event": "deal.won"}, delivery_id="metrics-1")
    assert (await anon.post(source["path"], content=raw, headers=headers)).status_code == 202
    assert (await anon.post(source["path"], content=raw, headers=headers)).status_code == 200
    bad = {**headers, SIGNATURE_HEADER: "0" * 64}
    assert (await anon.post(source["path"], content=raw, headers=bad)).status_code == 401
    after = await scrape(anon)

    def delta(outcome: str) -> float:
        name = "crmflow_inbound_webhooks_total"
        return after.value(name, outcome=outcome) - before.value(name, outcome=outcome)

    assert (delta("accepted"), delta("duplicate"), delta("rejected")) == (1, 1, 1)


async def test_failed_step_and_webhook_outcome(
    tenant: TenantCtx, anon: httpx.AsyncClient, workflow_label: None
) -> None:
    failing = await on_client_created(
        tenant,
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
    webhook = {"action_type": "WEBHOOK", **wf}
    assert delta("crmflow_step_attempts_total", outcome="FAILED", **webhook) == 1
    assert delta("crmflow_step_attempts_total", outcome="RETRYING", **webhook) == 0
    assert delta("crmflow_webhook_deliveries_total", outcome="refused", **wf) == 1
    assert delta("crmflow_webhook_deliveries_total", **wf) == 1


async def test_workflow_label_is_opt_in(tenant: TenantCtx, anon: httpx.AsyncClient) -> None:
    wf = await create_workflow(
        tenant, trigger_type="CLIENT_CREATED", actions=[{"type": "ADD_TAG", "config": {"tag": "x"}}]
    )
    await create_client(tenant)
    await wait_executions(tenant, count=1, workflow_id=wf["id"])
    after = await scrape(anon)
    assert after.value("crmflow_executions_finished_total", workflow_id=wf["id"]) == 0
    assert after.value("crmflow_executions_finished_total", workflow_id="") >= 1


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    """A migrated database for one standalone worker, apart from the suite's.

    A worker with a queue of its own takes that queue's sweep lease, so on the suite's database it
    would run the dispatch, recovery and email sweeps over every other test's rows: run their
    leftover events and stale executions (whose failing steps log WARNING and ERROR lines), and
    fill its own queue while the test reads that queue's depth.
    """
    url = await create_database(server_url(), prefix="crmflow_worker_metrics")
    try:
        await asyncio.to_thread(migrate_forwards, url)
        yield url
    finally:
        await drop_database(url)


async def test_standalone_worker_serves_metrics_on_its_own_port(own_database: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": own_database,
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
