"""Tasks, created by people or by workflow CREATE_TASK steps. Never commits."""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec

from app.audit.service import AuditTrail
from app.core.errors import FieldError, NotFoundError, UnprocessableError
from app.core.listing import FIRST_PAGE, PageQuery, Where, keyset_rows
from app.core.sql import fetchrow, fetchval, to_struct
from app.core.text import trim
from app.tasks.schemas import TaskFilters, TaskOut, TaskPage, TaskUpdate
from tables.enums import TaskPriority

RESOURCE = "task"
AUDIT = AuditTrail(RESOURCE)
COLUMNS = (
    "id, client, title, description, priority, status, due_at, assignee, execution, "
    "created_at, updated_at"
)
_FIELDS = {
    "title": "title",
    "description": "description",
    "priority": "priority",
    "status": "status",
    "due_at": "due_at",
    "assignee_id": "assignee",
}


def _values(task: TaskOut, *without: str) -> dict[str, Any]:
    """A task as JSON-able values for the audit trail, less the named fields."""
    values: dict[str, Any] = msgspec.to_builtins(task)
    return {k: v for k, v in values.items() if k not in without}


def to_out(row: Mapping[str, Any]) -> TaskOut:
    return to_struct(
        TaskOut, row, client_id="client", assignee_id="assignee", execution_id="execution"
    )


async def _reference_errors(
    *, tenant_id: UUID, client_id: UUID | None, assignee_id: UUID | None
) -> list[FieldError]:
    errors = []
    if client_id is not None and not await fetchval(
        "SELECT 1 FROM clients WHERE id = $1 AND tenant = $2", client_id, tenant_id
    ):
        errors.append(FieldError("$.client_id", "unknown client"))
    if assignee_id is not None and not await fetchval(
        "SELECT 1 FROM users WHERE id = $1 AND tenant = $2", assignee_id, tenant_id
    ):
        errors.append(FieldError("$.assignee_id", "unknown user"))
    return errors


async def create_task(
    *,
    tenant_id: UUID,
    client_id: UUID | None,
    title: str,
    description: str = "",
    priority: str = "MEDIUM",
    due_at: datetime | None = None,
    assignee_id: UUID | None = None,
    execution_id: UUID | None = None,
) -> TaskOut:
    """Create a task; the client and assignee must be the tenant's (422 with the path if not)."""
    title = trim(title)
    errors = []
    if not title or len(title) > 300:
        errors.append(FieldError("$.title", "must be 1 to 300 characters"))
    if priority not in TaskPriority.__members__:
        errors.append(FieldError("$.priority", f"must be one of {', '.join(TaskPriority)}"))
    if errors:
        raise UnprocessableError("The task has invalid fields.", errors=errors)
    # References are checked inside the INSERT: one round trip on the happy path.
    row = await fetchrow(
        f"""
        INSERT INTO tasks (id, tenant, client, assignee, execution, title, description, priority,
                           status, due_at, created_at, updated_at)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, 'OPEN', $9, now(), now()
        WHERE ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM clients WHERE id = $3 AND tenant = $2))
          AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = $4 AND tenant = $2))
        RETURNING {COLUMNS}
        """,
        uuid4(),
        tenant_id,
        client_id,
        assignee_id,
        execution_id,
        title,
        description,
        priority,
        due_at,
    )
    if row is None:
        errors = await _reference_errors(
            tenant_id=tenant_id, client_id=client_id, assignee_id=assignee_id
        )
        raise UnprocessableError("The task refers to rows that do not exist.", errors=errors)
    task = to_out(row)
    await AUDIT.record(
        tenant_id=tenant_id,
        action="create",
        resource_id=row["id"],
        after=_values(task, "id", "created_at", "updated_at"),
    )
    return task


async def get_task(*, tenant_id: UUID, task_id: UUID) -> TaskOut:
    row = await fetchrow(
        f"SELECT {COLUMNS} FROM tasks WHERE id = $1 AND tenant = $2", task_id, tenant_id
    )
    if row is None:
        raise NotFoundError("No such task.")
    return to_out(row)


async def update_task(*, tenant_id: UUID, task_id: UUID, changes: TaskUpdate) -> TaskOut:
    values: dict[str, Any] = {}
    for field, column in _FIELDS.items():
        value = getattr(changes, field)
        if value is not msgspec.UNSET:
            values[column] = value.value if hasattr(value, "value") else value
    if not values:
        return await get_task(tenant_id=tenant_id, task_id=task_id)
    if values.get("assignee") is not None:
        errors = await _reference_errors(
            tenant_id=tenant_id, client_id=None, assignee_id=values["assignee"]
        )
        if errors:
            raise UnprocessableError("The task refers to rows that do not exist.", errors=errors)
    where = Where()
    id_p, tenant_p = where.param(task_id), where.param(tenant_id)
    sets = ", ".join(f"{col} = {where.param(v)}" for col, v in values.items())
    cols = COLUMNS.split(", ")
    returning = ", ".join([*(f"t.{c}" for c in cols), *(f"old.{c} AS old_{c}" for c in cols)])
    row = await fetchrow(
        f"""
        UPDATE tasks AS t SET {sets}, updated_at = now()
        FROM (SELECT {COLUMNS} FROM tasks WHERE id = {id_p} AND tenant = {tenant_p}
              FOR UPDATE) AS old
        WHERE t.id = old.id
        RETURNING {returning}
        """,
        *where.args,
    )
    if row is None:
        raise NotFoundError("No such task.")
    after = to_out(row)
    before = _values(to_out({c: row[f"old_{c}"] for c in cols}), "updated_at")
    await AUDIT.record(
        tenant_id=tenant_id,
        action="update",
        resource_id=task_id,
        before=before,
        after=_values(after, "updated_at"),
    )
    return after


async def delete_task(*, tenant_id: UUID, task_id: UUID) -> None:
    row = await fetchrow(
        f"DELETE FROM tasks WHERE id = $1 AND tenant = $2 RETURNING {COLUMNS}", task_id, tenant_id
    )
    if row is None:
        raise NotFoundError("No such task.")
    await AUDIT.record(
        tenant_id=tenant_id, action="delete", resource_id=task_id, before=_values(to_out(row))
    )


async def list_tasks(
    *,
    tenant_id: UUID,
    filters: TaskFilters,
    page: PageQuery = FIRST_PAGE,
) -> TaskPage:
    where = Where().equal("t.tenant", tenant_id)
    where.equal("t.status", filters.status)
    where.equal("t.priority", filters.priority)
    where.equal("t.assignee", filters.assignee)
    where.equal("t.client", filters.client)
    rows, next_cursor = await keyset_rows(
        select=", ".join("t." + c for c in COLUMNS.split(", ")),
        from_="tasks t",
        where=where,
        alias="t",
        page=page,
    )
    return TaskPage(items=[to_out(r) for r in rows], next_cursor=next_cursor)
