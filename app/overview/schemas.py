"""Wire types of the operator overview."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class FailingWorkflow(msgspec.Struct, kw_only=True):
    workflow_id: UUID
    name: str
    failed: int
    # Every execution of the workflow in the window, whatever its status.
    total: int


class QueueState(msgspec.Struct, kw_only=True):
    # Jobs due and waiting on the shared queue (every tenant's), and how long the oldest waited;
    # null when the queue did not answer in time.
    depth: int | None
    oldest_wait_s: float | None


class Overview(msgspec.Struct, kw_only=True):
    # The window the counts cover: the last 24 hours, up to `now`.
    since: datetime
    now: datetime
    # Every status, 0 included: executions created in the window.
    executions_by_status: dict[str, int]
    # The workflows with the most FAILED executions in the window (at most 5, failures only).
    failing_workflows: list[FailingWorkflow]
    drafts_waiting: int
    oldest_draft_at: datetime | None
    # This tenant's executions waiting to run (PENDING), and since when the oldest waits.
    pending_executions: int
    oldest_pending_at: datetime | None
    queue: QueueState
