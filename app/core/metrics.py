"""The engine's Prometheus metrics (prometheus-client), recorded at a few choke points.

HTTP metrics come from Litestar's Prometheus middleware (app/server.py); everything here is the
engine's own. All metrics live in the process-wide default registry, so when the API and the
worker share a process (`make run`) one `/metrics` shows both, each counted once; a standalone
`crmflow worker` serves the same registry on WORKER_METRICS_PORT. With PROMETHEUS_MULTIPROC_DIR
set (several processes behind one scrape), prometheus-client's multiprocess mode aggregates them.

The workflow id is a label only when METRICS_WORKFLOW_LABEL=true (one series per workflow can be
many); otherwise the label is empty, which Prometheus treats as absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any
from uuid import UUID

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

from app.core.config import get_settings

# Step and execution durations: a few ms (a tag) up to minutes (a slow webhook with retries).
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
_DELAY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

EXECUTIONS_FINISHED = Counter(
    "crmflow_executions_finished_total",
    "Executions that reached a final status.",
    ["status", "workflow_id"],
)
EXECUTION_DURATION = Histogram(
    "crmflow_execution_duration_seconds",
    "From an execution's first step starting to its final status (DELAY waits included).",
    ["status", "workflow_id"],
    buckets=_DURATION_BUCKETS,
)
STEP_DURATION = Histogram(
    "crmflow_step_duration_seconds",
    "One attempt of one step, by action type.",
    ["action_type", "workflow_id"],
    buckets=_DURATION_BUCKETS,
)
STEP_ATTEMPTS = Counter(
    "crmflow_step_attempts_total",
    "Step attempts by action type and outcome (SUCCESS, RETRYING, FAILED).",
    ["action_type", "outcome", "workflow_id"],
)
EVENT_TO_START = Histogram(
    "crmflow_event_to_execution_start_seconds",
    "From the event's commit to its execution's first step starting.",
    ["workflow_id"],
    buckets=_DELAY_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    "crmflow_queue_depth",
    "Jobs waiting in the queue, due now (read at scrape time).",
    ["queue"],
    multiprocess_mode="max",
)
QUEUE_OLDEST_AGE = Gauge(
    "crmflow_queue_oldest_job_age_seconds",
    "How long the oldest due job has been waiting (0 when none waits).",
    ["queue"],
    multiprocess_mode="max",
)
WEBHOOK_DELIVERIES = Counter(
    "crmflow_webhook_deliveries_total",
    "Outbound WEBHOOK attempts by outcome (2xx, 4xx, 429, 5xx, network_error, refused).",
    ["outcome", "workflow_id"],
)
INBOUND_WEBHOOKS = Counter(
    "crmflow_inbound_webhooks_total",
    "Inbound webhook deliveries by outcome (accepted, duplicate, rejected).",
    ["outcome"],
)
EMAILS = Counter(
    "crmflow_emails_total",
    "Emails by outcome: drafted/queued when a step stores them, sent/retry/failed on delivery.",
    ["outcome"],
)
PRUNED_ROWS = Counter(
    "crmflow_pruned_rows_total",
    "Rows removed by the retention job, by table.",
    ["table"],
)

_FINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def workflow_label(workflow_id: UUID | str | None) -> str:
    if workflow_id is None or not get_settings().metrics_workflow_label:
        return ""
    return str(workflow_id)


def step_attempt(
    *, action_type: str, outcome: str, workflow_id: UUID | None, duration_s: float
) -> None:
    label = workflow_label(workflow_id)
    STEP_ATTEMPTS.labels(action_type, outcome, label).inc()
    STEP_DURATION.labels(action_type, label).observe(max(duration_s, 0.0))


def execution_finished(*, status: str, workflow_id: UUID | None, duration_s: float | None) -> None:
    if status not in _FINAL:
        return
    label = workflow_label(workflow_id)
    EXECUTIONS_FINISHED.labels(status, label).inc()
    if duration_s is not None:
        EXECUTION_DURATION.labels(status, label).observe(max(duration_s, 0.0))


def execution_started(*, workflow_id: UUID | None, event_delay_s: float | None) -> None:
    if event_delay_s is not None:
        EVENT_TO_START.labels(workflow_label(workflow_id)).observe(max(event_delay_s, 0.0))


async def refresh_queue_gauges(queue: Any) -> tuple[int, float] | None:
    """Read the queue's depth and its oldest due job's age into the gauges (bounded, best effort).

    Returns (depth, oldest age in seconds); None, leaving the last values, when the queue does
    not answer within 2 s.
    """
    from app.worker.queue import is_redis

    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            now = time.time()
            if is_redis(queue):
                depth, oldest = await _redis_depth(queue)
            else:
                depth, oldest = await _postgres_depth(queue)
            age = 0.0 if oldest is None else max(now - oldest, 0.0)
            QUEUE_DEPTH.labels(queue.name).set(depth)
            QUEUE_OLDEST_AGE.labels(queue.name).set(age)
            return depth, age
    return None


async def _postgres_depth(queue: Any) -> tuple[int, float | None]:
    from psycopg.sql import SQL

    query = SQL(
        "SELECT count(*), min(scheduled) FROM {jobs} "
        "WHERE status = 'queued' AND queue = %(queue)s AND scheduled <= %(now)s"
    ).format(jobs=queue.jobs_table)
    async with queue.pool.connection() as conn, conn.cursor() as cursor:
        await cursor.execute(query, {"queue": queue.name, "now": time.time()})
        row = await cursor.fetchone()
    if row is None:
        return 0, None
    return int(row[0]), None if row[1] is None else float(row[1])


async def _redis_depth(queue: Any) -> tuple[int, float | None]:
    depth = int(await queue.count("queued"))
    if depth == 0:
        return 0, None
    # Workers take from the left: the leftmost job has waited longest.
    first = await queue.redis.lindex(queue.namespace("queued"), 0)
    job = None if first is None else await queue._get_job_by_id(first)
    if job is None:
        return depth, None
    # `scheduled` is in seconds, `queued` (the enqueue time) in milliseconds.
    if job.scheduled:
        return depth, float(job.scheduled)
    return depth, job.queued / 1000 if job.queued else None


def _registry() -> Any:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def exposition() -> tuple[bytes, str]:
    """The Prometheus text format of this process' metrics (every process' in multiprocess mode)."""
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


def serve_metrics(*, host: str, port: int) -> int:
    """Serve /metrics on its own port in a thread (a standalone worker); the port bound."""
    server, _thread = start_http_server(port, addr=host, registry=_registry())
    return int(server.server_port)
