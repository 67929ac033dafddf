"""Tasks, created by people or by workflow CREATE_TASK steps. Never commits."""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec

from app.audit.service import record_audit
from app.core.errors import FieldError, NotFoundError, UnprocessableError
from app.core.listing import CreatedSort, Where, keyset_rows, sort_spec
from app.core.sql import fetchrow, fetchval
from app.core.text import trim
from app.tasks.schemas import TaskFilters, TaskOut, TaskPage, TaskUpdate
from tables.enums import TaskPriority

RESOURCE = "task"
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


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _str(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def task_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A task as JSON-able values (what a workflow step logs)."""
    return {
        "id": str(row["id"]),
        "client_id": _str(row["client"]),
        "title": row["title"],
        "description": row["description"],
        "priority": row["priority"],
        "status": row["status"],
        "due_at": _iso(row["due_at"]),
        "assignee_id": _str(row["assignee"]),
        "execution_id": _str(row["execution"]),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def to_out(row: Mapping[str, Any]) -> TaskOut:
    return TaskOut(
        id=row["id"],
        client_id=row["client"],
        title=row["title"],
        description=row["description"],
        priority=row["priority"],
        status=row["status"],
        due_at=row["due_at"],
        assignee_id=row["assignee"],
        execution_id=row["execution"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
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
) -> dict[str, Any]:
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
    task = task_dict(row)
    await record_audit(
        tenant_id=tenant_id,
        action="create",
        resource_type=RESOURCE,
        resource_id=row["id"],
        after={k: v for k, v in task.items() if k not in ("id", "created_at", "updated_at")},
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
    before = task_dict({c: row[f"old_{c}"] for c in cols})
    after = task_dict(row)
    before.pop("updated_at")
    after.pop("updated_at")
    await record_audit(
        tenant_id=tenant_id,
        action="update",
        resource_type=RESOURCE,
        resource_id=task_id,
        before=before,
        after=after,
    )
    return to_out(row)


async def delete_task(*, tenant_id: UUID, task_id: UUID) -> None:
    row = await fetchrow(
        f"DELETE FROM tasks WHERE id = $1 AND tenant = $2 RETURNING {COLUMNS}", task_id, tenant_id
    )
    if row is None:
        raise NotFoundError("No such task.")
    await record_audit(
        tenant_id=tenant_id,
        action="delete",
        resource_type=RESOURCE,
        resource_id=task_id,
        before=task_dict(row),
    )


async def list_tasks(
    *,
    tenant_id: UUID,
    filters: TaskFilters,
    sort: CreatedSort = CreatedSort.CREATED_AT_DESC,
    cursor: str | None = None,
    limit: int = 50,
) -> TaskPage:
    where = Where()
    where.add(f"t.tenant = {where.param(tenant_id)}")
    if filters.status is not None:
        where.add(f"t.status = {where.param(filters.status.value)}")
    if filters.priority is not None:
        where.add(f"t.priority = {where.param(filters.priority.value)}")
    if filters.assignee is not None:
        where.add(f"t.assignee = {where.param(filters.assignee)}")
    if filters.client is not None:
        where.add(f"t.client = {where.param(filters.client)}")
    rows, next_cursor = await keyset_rows(
        select=", ".join("t." + c for c in COLUMNS.split(", ")),
        from_="tasks t",
        where=where,
        sort=sort_spec(sort.value, alias="t"),
        id_column="t.id",
        cursor=cursor,
        limit=limit,
    )
    return TaskPage(items=[to_out(r) for r in rows], next_cursor=next_cursor)
