"""Executions for operators: list, inspect, cancel, retry from the failed step. Never commits."""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.audit.service import record_audit
from app.clients.listing import CreatedSort, Where, keyset_rows, sort_spec
from app.core.errors import ConflictError, NotFoundError
from app.core.sql import fetch, fetchrow
from app.executions.schemas import ExecutionDetail, ExecutionOut, ExecutionPage, StepLogOut
from tables.enums import ExecutionStatus

RESOURCE = "workflow_execution"
COLUMNS = (
    "id, workflow, workflow_version, client, event, status, current_step, depth, trigger_data, "
    "resume_at, started_at, completed_at, error_message, created_at, updated_at"
)
CANCELLABLE = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING)


def _json(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str) else value


def _fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "workflow_id": row["workflow"],
        "workflow_version": row["workflow_version"],
        "client_id": row["client"],
        "event_id": row["event"],
        "status": ExecutionStatus(row["status"]),
        "current_step": row["current_step"],
        "depth": row["depth"],
        "trigger_data": _json(row["trigger_data"]) or {},
        "resume_at": row["resume_at"],
        "started_at": row["started_at"],
        "completed_at": row["completed_at"],
        "error_message": row["error_message"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def to_out(row: Mapping[str, Any]) -> ExecutionOut:
    return ExecutionOut(**_fields(row))


async def list_executions(
    *,
    tenant_id: UUID,
    workflow_id: UUID | None = None,
    client_id: UUID | None = None,
    status: ExecutionStatus | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    sort: CreatedSort = CreatedSort.CREATED_AT_DESC,
    cursor: str | None = None,
    limit: int = 50,
) -> ExecutionPage:
    """The tenant's executions, newest first, filtered; keyset pages."""
    where = Where()
    where.add(f"e.tenant = {where.param(tenant_id)}")
    if workflow_id is not None:
        where.add(f"e.workflow = {where.param(workflow_id)}")
    if client_id is not None:
        where.add(f"e.client = {where.param(client_id)}")
    if status is not None:
        where.add(f"e.status = {where.param(status.value)}")
    if created_after is not None:
        where.add(f"e.created_at >= {where.param(created_after)}")
    if created_before is not None:
        where.add(f"e.created_at < {where.param(created_before)}")
    rows, next_cursor = await keyset_rows(
        select=", ".join(f"e.{c}" for c in COLUMNS.split(", ")),
        from_="workflow_executions e",
        where=where,
        sort=sort_spec(sort.value, alias="e"),
        id_column="e.id",
        cursor=cursor,
        limit=limit,
    )
    return ExecutionPage(items=[to_out(r) for r in rows], next_cursor=next_cursor)


async def _row(*, tenant_id: UUID, execution_id: UUID, lock: bool = False) -> Any:
    row = await fetchrow(
        f"SELECT {COLUMNS}, definition FROM workflow_executions WHERE id = $1 AND tenant = $2"
        + (" FOR UPDATE" if lock else ""),
        execution_id,
        tenant_id,
    )
    if row is None:
        raise NotFoundError("No such execution.")
    return row


async def get_execution(*, tenant_id: UUID, execution_id: UUID) -> ExecutionDetail:
    """One execution with its definition and every step attempt, in order."""
    row = await _row(tenant_id=tenant_id, execution_id=execution_id)
    logs = await fetch(
        """
        SELECT id, step_index, action_type, status, attempt, input_data, output_data,
               error_message, duration_ms, executed_at
        FROM workflow_execution_logs WHERE execution = $1
        ORDER BY step_index, executed_at, created_at, attempt
        """,
        execution_id,
    )
    return ExecutionDetail(
        **_fields(row),
        definition=_json(row["definition"]) or {},
        logs=[
            StepLogOut(
                id=r["id"],
                step_index=r["step_index"],
                action_type=r["action_type"],
                status=r["status"],
                attempt=r["attempt"],
                input_data=_json(r["input_data"]),
                output_data=_json(r["output_data"]),
                error_message=r["error_message"],
                duration_ms=r["duration_ms"],
                executed_at=r["executed_at"],
            )
            for r in logs
        ],
    )


async def cancel_execution(*, tenant_id: UUID, execution_id: UUID) -> ExecutionOut:
    """PENDING/RUNNING/WAITING → CANCELLED; a running one stops before its next step commits."""
    before = await _row(tenant_id=tenant_id, execution_id=execution_id, lock=True)
    if before["status"] not in CANCELLABLE:
        raise ConflictError(
            f"The execution is {before['status']}; only PENDING, RUNNING or WAITING ones can be "
            "cancelled."
        )
    row = await fetchrow(
        f"""
        UPDATE workflow_executions
        SET status = 'CANCELLED', completed_at = now(), resume_at = NULL, updated_at = now()
        WHERE id = $1 RETURNING {COLUMNS}
        """,
        execution_id,
    )
    assert row is not None  # locked above
    await record_audit(
        tenant_id=tenant_id,
        action="cancel",
        resource_type=RESOURCE,
        resource_id=execution_id,
        before={"status": before["status"]},
        after={"status": ExecutionStatus.CANCELLED.value},
    )
    return to_out(row)


async def retry_execution(*, tenant_id: UUID, execution_id: UUID) -> ExecutionOut:
    """FAILED → PENDING at the failed step; the caller enqueues it after commit."""
    before = await _row(tenant_id=tenant_id, execution_id=execution_id, lock=True)
    if before["status"] != ExecutionStatus.FAILED:
        raise ConflictError(
            f"The execution is {before['status']}; only FAILED ones can be retried."
        )
    row = await fetchrow(
        f"""
        UPDATE workflow_executions
        SET status = 'PENDING', completed_at = NULL, error_message = NULL, updated_at = now()
        WHERE id = $1 RETURNING {COLUMNS}
        """,
        execution_id,
    )
    assert row is not None  # locked above
    await record_audit(
        tenant_id=tenant_id,
        action="retry",
        resource_type=RESOURCE,
        resource_id=execution_id,
        before={"status": before["status"], "error_message": before["error_message"]},
        after={"status": ExecutionStatus.PENDING.value, "current_step": row["current_step"]},
    )
    return to_out(row)
