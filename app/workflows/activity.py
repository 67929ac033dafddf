"""Each workflow's last 24 hours: how many of its executions completed and failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec
from litestar import Controller, get

from app.core.errors import error_responses
from app.core.listing import AuthRequest
from app.core.sql import fetch

WINDOW = timedelta(hours=24)


class WorkflowActivity(msgspec.Struct, kw_only=True):
    workflow_id: UUID
    completed: int
    failed: int


class ActivityOut(msgspec.Struct, kw_only=True):
    since: datetime
    # Workflows with no execution finished in the window are left out (0 and 0).
    items: list[WorkflowActivity]


async def workflow_activity(*, tenant_id: UUID) -> ActivityOut:
    """Executions that finished (COMPLETED or FAILED) in the last 24 hours, per workflow."""
    since = datetime.now(UTC) - WINDOW
    rows = await fetch(
        """
        SELECT workflow, count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
               count(*) FILTER (WHERE status = 'FAILED') AS failed
        FROM workflow_executions
        WHERE tenant = $1 AND status IN ('COMPLETED', 'FAILED') AND completed_at >= $2
        GROUP BY workflow
        """,
        tenant_id,
        since,
    )
    return ActivityOut(
        since=since,
        items=[
            WorkflowActivity(
                workflow_id=r["workflow"], completed=r["completed"], failed=r["failed"]
            )
            for r in rows
        ],
    )


class WorkflowActivityController(Controller):
    path = "/workflows/activity"
    tags = ["workflows"]

    @get(
        "/",
        summary="Per workflow: executions completed and failed in the last 24 hours",
        responses=error_responses(),
    )
    async def activity(self, request: AuthRequest) -> ActivityOut:
        return await workflow_activity(tenant_id=request.user.tenant_id)
