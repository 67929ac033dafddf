"""HTTP: /api/v1/executions — list, detail with step logs, cancel, retry (from the failed step
or the start), bulk cancel/retry of a filter."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from app.core.errors import error_responses
from app.core.listing import AuthRequest, ClientFilter, CreatedAfter, CreatedBefore, Paging
from app.executions import service
from app.executions.schemas import (
    MAX_BULK,
    BulkRequest,
    BulkResult,
    ExecutionDetail,
    ExecutionOut,
    ExecutionPage,
)
from tables.enums import ExecutionStatus

ExecutionId = Annotated[UUID, PathParameter(description="The execution's id")]
BULK_DESCRIPTION = (
    "Send the filter without `confirm`: the answer counts the executions the action applies to "
    f"(at most {MAX_BULK} per action; `too_many` says to narrow the filter). Send it again with "
    "`confirm` set to that count to act: if the count changed meanwhile the answer is 409 and "
    "nothing is done. Each execution gets its audit row, and the bulk action one more."
)


class ExecutionController(Controller):
    path = "/executions"
    tags = ["executions"]

    @get(
        "/",
        summary="List executions (filters, text search, cursor pages)",
        responses=error_responses(),
    )
    async def list_executions(
        self,
        request: AuthRequest,
        page: Paging,
        workflow: Annotated[UUID | None, QueryParameter(description="Workflow id")] = None,
        client: ClientFilter = None,
        status: Annotated[ExecutionStatus | None, QueryParameter()] = None,
        event_type: Annotated[
            str | None,
            QueryParameter(description="The triggering event's type", min_length=1, max_length=100),
        ] = None,
        created_after: CreatedAfter = None,
        created_before: CreatedBefore = None,
        q: Annotated[
            str | None,
            QueryParameter(
                description="Text inside the trigger data or the error message (any case)",
                min_length=1,
                max_length=200,
            ),
        ] = None,
    ) -> ExecutionPage:
        return await service.list_executions(
            tenant_id=request.user.tenant_id,
            workflow_id=workflow,
            client_id=client,
            status=status,
            event_type=event_type,
            created_after=created_after,
            created_before=created_before,
            q=q,
            page=page,
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
        return await _retry(request, execution_id, from_start=False)

    @post(
        "/{execution_id:uuid}/retry-from-start",
        summary="Retry a FAILED execution from its first step (every step runs again)",
        status_code=HTTP_200_OK,
        responses=error_responses(404, 409),
    )
    async def retry_from_start(
        self, request: AuthRequest, execution_id: ExecutionId
    ) -> ExecutionOut:
        return await _retry(request, execution_id, from_start=True)

    @post(
        "/bulk/cancel",
        summary="Cancel every unfinished execution matching a filter (preview, then confirm)",
        description=BULK_DESCRIPTION,
        status_code=HTTP_200_OK,
        responses=error_responses(409),
    )
    async def bulk_cancel(self, request: AuthRequest, data: JSONBody[BulkRequest]) -> BulkResult:
        return await service.bulk_action(
            tenant_id=request.user.tenant_id, action="cancel", request=data
        )

    @post(
        "/bulk/retry",
        summary="Retry every FAILED execution matching a filter (preview, then confirm)",
        description=BULK_DESCRIPTION,
        status_code=HTTP_200_OK,
        responses=error_responses(409),
    )
    async def bulk_retry(self, request: AuthRequest, data: JSONBody[BulkRequest]) -> BulkResult:
        return await service.bulk_action(
            tenant_id=request.user.tenant_id, action="retry", request=data
        )


async def _retry(request: AuthRequest, execution_id: UUID, *, from_start: bool) -> ExecutionOut:
    return await service.retry_execution(
        tenant_id=request.user.tenant_id, execution_id=execution_id, from_start=from_start
    )
