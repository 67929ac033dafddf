"""CREATE_TASK: a task for the client, optionally due later and assigned to someone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from app.core.errors import AppError
from app.engine.actions._util import render_step, service_error
from app.engine.actions.base import ActionError, StepContext
from app.workflows.definition import CreateTaskConfig


def _assignee(ctx: StepContext, assignee: str | None) -> UUID | None:
    if assignee is None:
        return None
    if assignee == "owner":
        owner = ctx.variables.get("client", {}).get("owner")
        return None if owner is None else UUID(str(owner))
    try:
        return UUID(assignee)
    except ValueError as exc:
        raise ActionError(f"assignee {assignee!r} is not a user id", retryable=False) from exc


async def validate_task(ctx: StepContext, config: CreateTaskConfig) -> CreateTaskConfig:
    """CREATE_TASK, rendered, before its effect: the assignee is a user id (or "owner")."""
    _assignee(ctx, config.assignee)
    return config


async def check_task(ctx: StepContext, config: CreateTaskConfig) -> CreateTaskConfig:
    return await validate_task(ctx, await render_step(ctx, config))


async def create_task(ctx: StepContext, config: CreateTaskConfig) -> dict[str, Any]:
    from app.tasks.service import create_task as create

    config = await check_task(ctx, config)
    title, description = config.title, config.description
    due_at = None
    if config.due_in is not None:
        due_at = datetime.now(UTC) + timedelta(seconds=config.due_in.total_seconds())
    try:
        task = await create(
            tenant_id=ctx.tenant_id,
            client_id=ctx.client_id,
            title=title,
            description=description,
            priority=config.priority,
            due_at=due_at,
            assignee_id=_assignee(ctx, config.assignee),
            execution_id=ctx.execution_id,
        )
    except AppError as exc:
        raise service_error(exc) from exc
    return {"task_id": str(task.id), "title": title}
