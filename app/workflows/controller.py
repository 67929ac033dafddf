"""HTTP: /api/v1/workflows. Members read and dry-run; admins change and trigger."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED

from app.core.auth import Principal, admin_only
from app.core.errors import error_responses, problem
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.core.uow import unit_of_work
from app.workflows import service
from app.workflows.dryrun import dry_run
from app.workflows.schemas import (
    DryRunRequest,
    DryRunResult,
    ManualTrigger,
    TriggerAccepted,
    WorkflowCreate,
    WorkflowOut,
    WorkflowPage,
    WorkflowSort,
    WorkflowUpdate,
)
from tables.enums import TriggerType

Cursor = Annotated[
    str | None,
    QueryParameter(description="`next_cursor` of the previous page", max_length=1000),
]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size")]
AuthRequest = Request[Principal, Any, Any]
TriggerTypeParam = TriggerType | None


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    # msgspec gives up on JSON nested ~1000 levels deep while decoding the body.
    return problem(400, "Bad request", "The JSON body nests too deeply.", request=request)


class WorkflowController(Controller):
    path = "/workflows"
    tags = ["workflows"]
    exception_handlers = {RecursionError: _too_deep}

    @post(
        "/",
        summary="Create a workflow (inactive unless is_active is true)",
        guards=[admin_only],
        responses=error_responses(403),
    )
    async def create_workflow(
        self, request: AuthRequest, data: JSONBody[WorkflowCreate]
    ) -> WorkflowOut:
        p = request.user
        async with unit_of_work():
            return await service.create_workflow(
                tenant_id=p.tenant_id, actor_id=p.user_id, data=data
            )

    @get("/", summary="List workflows (filters, sort, cursor pages)", responses=error_responses())
    async def list_workflows(
        self,
        request: AuthRequest,
        trigger_type: Annotated[TriggerTypeParam, QueryParameter()] = None,
        is_active: Annotated[bool | None, QueryParameter()] = None,
        q: Annotated[
            str | None, QueryParameter(description="Search in the name", max_length=200)
        ] = None,
        created_after: Annotated[datetime | None, QueryParameter()] = None,
        created_before: Annotated[datetime | None, QueryParameter()] = None,
        sort: Annotated[WorkflowSort, QueryParameter()] = WorkflowSort.CREATED_AT_DESC,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> WorkflowPage:
        return await service.list_workflows(
            tenant_id=request.user.tenant_id,
            trigger_type=trigger_type,
            is_active=is_active,
            q=q,
            created_after=created_after,
            created_before=created_before,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )

    @get("/{workflow_id:uuid}", summary="Get a workflow", responses=error_responses(404))
    async def get_workflow(self, request: AuthRequest, workflow_id: FromPath[UUID]) -> WorkflowOut:
        return await service.get_workflow(tenant_id=request.user.tenant_id, workflow_id=workflow_id)

    @patch(
        "/{workflow_id:uuid}",
        summary="Change a workflow (a definition change bumps the version)",
        guards=[admin_only],
        responses=error_responses(403, 404),
    )
    async def update_workflow(
        self, request: AuthRequest, workflow_id: FromPath[UUID], data: JSONBody[WorkflowUpdate]
    ) -> WorkflowOut:
        async with unit_of_work():
            return await service.update_workflow(
                tenant_id=request.user.tenant_id, workflow_id=workflow_id, data=data
            )

    @delete(
        "/{workflow_id:uuid}",
        summary="Delete a workflow with its executions",
        guards=[admin_only],
        responses=error_responses(403, 404),
    )
    async def delete_workflow(self, request: AuthRequest, workflow_id: FromPath[UUID]) -> None:
        async with unit_of_work():
            await service.delete_workflow(tenant_id=request.user.tenant_id, workflow_id=workflow_id)

    @post(
        "/{workflow_id:uuid}/activate",
        summary="Activate a workflow",
        guards=[admin_only],
        status_code=200,
        responses=error_responses(403, 404),
    )
    async def activate(self, request: AuthRequest, workflow_id: FromPath[UUID]) -> WorkflowOut:
        async with unit_of_work():
            return await service.set_active(
                tenant_id=request.user.tenant_id, workflow_id=workflow_id, active=True
            )

    @post(
        "/{workflow_id:uuid}/deactivate",
        summary="Deactivate a workflow",
        guards=[admin_only],
        status_code=200,
        responses=error_responses(403, 404),
    )
    async def deactivate(self, request: AuthRequest, workflow_id: FromPath[UUID]) -> WorkflowOut:
        async with unit_of_work():
            return await service.set_active(
                tenant_id=request.user.tenant_id, workflow_id=workflow_id, active=False
            )

    @post(
        "/{workflow_id:uuid}/test",
        summary="Dry run against a client: trigger, conditions and rendered steps; writes nothing",
        status_code=200,
        responses=error_responses(404),
    )
    async def test_workflow(
        self, request: AuthRequest, workflow_id: FromPath[UUID], data: JSONBody[DryRunRequest]
    ) -> DryRunResult:
        return await dry_run(tenant_id=request.user.tenant_id, workflow_id=workflow_id, data=data)

    @post(
        "/{workflow_id:uuid}/trigger",
        summary="Run a MANUAL workflow now (records a MANUAL event; the engine runs it)",
        guards=[admin_only],
        status_code=HTTP_202_ACCEPTED,
        responses=error_responses(403, 404, 409),
    )
    async def trigger(
        self, request: AuthRequest, workflow_id: FromPath[UUID], data: JSONBody[ManualTrigger]
    ) -> TriggerAccepted:
        p = request.user
        async with unit_of_work():
            return await service.trigger_manual(
                tenant_id=p.tenant_id, workflow_id=workflow_id, actor_id=p.user_id, data=data
            )


__all__ = ["WorkflowController"]
