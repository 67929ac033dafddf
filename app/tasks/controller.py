"""HTTP: /api/v1/tasks."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from app.core.errors import error_responses
from app.core.listing import AuthRequest, ClientFilter, Paging
from app.tasks import service
from app.tasks.schemas import TaskCreate, TaskFilters, TaskOut, TaskPage, TaskUpdate
from tables.enums import TaskPriority, TaskStatus


class TaskController(Controller):
    path = "/tasks"
    tags = ["tasks"]

    @post("/", summary="Create a task", responses=error_responses())
    async def create_task(self, request: AuthRequest, data: JSONBody[TaskCreate]) -> TaskOut:
        return await service.create_task(
            tenant_id=request.user.tenant_id,
            client_id=data.client_id,
            title=data.title,
            description=data.description,
            priority=data.priority.value,
            due_at=data.due_at,
            assignee_id=data.assignee_id,
        )

    @get("/", summary="List tasks", responses=error_responses())
    async def list_tasks(
        self,
        request: AuthRequest,
        page: Paging,
        status: Annotated[TaskStatus | None, QueryParameter()] = None,
        priority: Annotated[TaskPriority | None, QueryParameter()] = None,
        assignee: Annotated[UUID | None, QueryParameter(description="Assignee user id")] = None,
        client: ClientFilter = None,
    ) -> TaskPage:
        filters = TaskFilters(status=status, priority=priority, assignee=assignee, client=client)
        return await service.list_tasks(
            tenant_id=request.user.tenant_id, filters=filters, page=page
        )

    @get("/{task_id:uuid}", summary="Get a task", responses=error_responses(404))
    async def get_task(self, request: AuthRequest, task_id: FromPath[UUID]) -> TaskOut:
        return await service.get_task(tenant_id=request.user.tenant_id, task_id=task_id)

    @patch("/{task_id:uuid}", summary="Change a task", responses=error_responses(404))
    async def update_task(
        self, request: AuthRequest, task_id: FromPath[UUID], data: JSONBody[TaskUpdate]
    ) -> TaskOut:
        return await service.update_task(
            tenant_id=request.user.tenant_id, task_id=task_id, changes=data
        )

    @delete("/{task_id:uuid}", summary="Delete a task", responses=error_responses(404))
    async def delete_task(self, request: AuthRequest, task_id: FromPath[UUID]) -> None:
        await service.delete_task(tenant_id=request.user.tenant_id, task_id=task_id)
