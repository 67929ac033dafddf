"""HTTP: /api/v1/executions — list, detail with step logs, cancel, retry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from app.clients.listing import AuthRequest, CreatedSort, Cursor, Limit, Sort
from app.core.errors import error_responses
from app.core.pagination import DEFAULT_LIMIT
from app.core.uow import unit_of_work
from app.executions import service
from app.executions.schemas import ExecutionDetail, ExecutionOut, ExecutionPage
from app.worker.enqueue import enqueue_run
from tables.enums import ExecutionStatus

ExecutionId = Annotated[UUID, PathParameter(description="The execution's id")]


class ExecutionController(Controller):
    path = "/executions"
    tags = ["executions"]

    @get("/", summary="List executions (filters, cursor pages)", responses=error_responses())
    async def list_executions(
        self,
        request: AuthRequest,
        workflow_id: Annotated[UUID | None, QueryParameter()] = None,
        client_id: Annotated[UUID | None, QueryParameter()] = None,
        status: Annotated[ExecutionStatus | None, QueryParameter()] = None,
        created_after: Annotated[datetime | None, QueryParameter()] = None,
        created_before: Annotated[datetime | None, QueryParameter()] = None,
        sort: Sort = CreatedSort.CREATED_AT_DESC,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> ExecutionPage:
        return await service.list_executions(
            tenant_id=request.user.tenant_id,
            workflow_id=workflow_id,
            client_id=client_id,
            status=status,
            created_after=created_after,
            created_before=created_before,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )

    @get(
        "/{execution_id:uuid}",
        summary="One execution with its step logs",
        responses=error_responses(404),
    )
    async def get_execution(
        self, request: AuthRequest, execution_id: ExecutionId
    ) -> ExecutionDetail:
        return await service.get_execution(
            tenant_id=request.user.tenant_id, execution_id=execution_id
        )

    @post(
        "/{execution_id:uuid}/cancel",
        summary="Cancel a PENDING, RUNNING or WAITING execution",
        status_code=HTTP_200_OK,
        responses=error_responses(404, 409),
    )
    async def cancel_execution(
        self, request: AuthRequest, execution_id: ExecutionId
    ) -> ExecutionOut:
        async with unit_of_work():
            return await service.cancel_execution(
                tenant_id=request.user.tenant_id, execution_id=execution_id
            )

    @post(
        "/{execution_id:uuid}/retry",
        summary="Retry a FAILED execution from its failed step",
        status_code=HTTP_200_OK,
        responses=error_responses(404, 409),
    )
    async def retry_execution(
        self, request: AuthRequest, execution_id: ExecutionId
    ) -> ExecutionOut:
        async with unit_of_work():
            execution = await service.retry_execution(
                tenant_id=request.user.tenant_id, execution_id=execution_id
            )
        # After commit; if the queue is down the recovery sweep picks the PENDING one up.
        retry_key = f"retry:{execution.id}:{execution.updated_at.timestamp()}"
        await enqueue_run(execution.id, key=retry_key)
        return execution
