"""The overview an operator keeps open: the last 24 hours at a glance. Reads only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from app.core.metrics import refresh_queue_gauges
from app.core.sql import fetch, fetchrow
from app.overview.schemas import FailingWorkflow, Overview, QueueState
from app.worker.enqueue import get_queue
from tables.enums import ExecutionStatus

WINDOW = timedelta(hours=24)
FAILING_TOP = 5


async def get_overview(*, tenant_id: UUID) -> Overview:
    """Executions by status, the workflows failing most, drafts and the queue, for one tenant."""
    now = datetime.now(UTC)
    since = now - WINDOW
    by_status = {s.value: 0 for s in ExecutionStatus}
    for row in await fetch(
        """
        SELECT status, count(*) AS n FROM workflow_executions
        WHERE tenant = $1 AND created_at >= $2 GROUP BY status
        """,
        tenant_id,
        since,
    ):
        by_status[row["status"]] = row["n"]
    failing = await fetch(
        """
        SELECT w.id, w.name, x.failed, x.total
        FROM (
            SELECT workflow, count(*) FILTER (WHERE status = 'FAILED') AS failed,
                   count(*) AS total
            FROM workflow_executions WHERE tenant = $1 AND created_at >= $2
            GROUP BY workflow
        ) x JOIN workflows w ON w.id = x.workflow
        WHERE x.failed > 0
        ORDER BY x.failed DESC, w.name LIMIT $3
        """,
        tenant_id,
        since,
        FAILING_TOP,
    )
    drafts = await fetchrow(
        "SELECT count(*) AS n, min(created_at) AS oldest FROM emails "
        "WHERE tenant = $1 AND status = 'DRAFT'",
        tenant_id,
    )
    pending = await fetchrow(
        "SELECT count(*) AS n, min(created_at) AS oldest FROM workflow_executions "
        "WHERE tenant = $1 AND status = 'PENDING'",
        tenant_id,
    )
    # Aggregates always answer one row.
    assert drafts is not None
    assert pending is not None
    queue = get_queue()
    depth = None if queue is None else await refresh_queue_gauges(queue)
    return Overview(
        since=since,
        now=now,
        executions_by_status=by_status,
        failing_workflows=[
            FailingWorkflow(
                workflow_id=r["id"], name=r["name"], failed=r["failed"], total=r["total"]
            )
            for r in failing
        ],
        drafts_waiting=drafts["n"],
        oldest_draft_at=drafts["oldest"],
        pending_executions=pending["n"],
        oldest_pending_at=pending["oldest"],
        queue=QueueState(
            depth=None if depth is None else depth[0],
            oldest_wait_s=None if depth is None else round(depth[1], 3),
        ),
    )
