"""Wire types of the executions API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
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
