"""Wire types of the executions API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from tables.enums import ExecutionStatus, StepStatus


class ExecutionOut(msgspec.Struct, kw_only=True):
    id: UUID
    workflow_id: UUID
    workflow_version: int
    client_id: UUID | None
    event_id: UUID | None
    status: ExecutionStatus
    current_step: int
    depth: int
    trigger_data: dict[str, Any]
    resume_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


class StepLogOut(msgspec.Struct, kw_only=True):
    id: UUID
    step_index: int
    action_type: str
    status: StepStatus
    attempt: int
    input_data: Any
    output_data: Any
    error_message: str | None
    duration_ms: int
    executed_at: datetime


class ExecutionDetail(ExecutionOut, kw_only=True):
    # The definition this execution runs: the workflow as it was when the event arrived.
    definition: dict[str, Any]
    logs: list[StepLogOut]


class ExecutionPage(msgspec.Struct, kw_only=True):
    items: list[ExecutionOut]
    next_cursor: str | None = None


EventType = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
SearchText = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ExecutionFilter(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which executions: the list's query parameters, and a bulk action's `filter`."""

    status: ExecutionStatus | None = None
    workflow: UUID | None = None
    client: UUID | None = None
    # The triggering event's type (CLIENT_CREATED, a custom event's name ...).
    event_type: EventType | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    # Text inside the trigger data (the event's payload) or the error message, any case.
    q: SearchText | None = None


# A bulk action touches at most this many executions; narrow the filter for more.
MAX_BULK = 1000


class BulkRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Retry or cancel everything matching a filter: first without `confirm` (the count), then
    with `confirm` set to that count (a different count now: 409, nothing done)."""

    filter: ExecutionFilter = msgspec.field(default_factory=ExecutionFilter)
    confirm: Annotated[int, msgspec.Meta(ge=0, le=MAX_BULK)] | None = None
    # Retry only: from the failed step (default) or from the first step.
    from_start: bool = False


class BulkResult(msgspec.Struct, kw_only=True):
    action: Literal["cancel", "retry", "retry_from_start"]
    # Executions the action applies to (only those in a state it can act on); at most MAX_BULK
    # + 1 are counted: `too_many` then says the filter must be narrowed.
    count: int
    too_many: bool
    limit: int
    # False: a preview; send the same request with "confirm": count to act.
    applied: bool
    ids: list[UUID]
