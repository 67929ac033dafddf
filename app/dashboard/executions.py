"""Console: the executions list (filters in the URL, live while unfinished), detail and actions."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Template

from app.core.auth import Principal
from app.core.errors import ConflictError, FieldError, UnprocessableError
from app.core.listing import PageQuery
from app.dashboard.context import DashRequest, Me, page, see_other
from app.dashboard.filters import ExecutionFilters, parse_execution_filters
from app.dashboard.lookups import client_names, workflow_names
from app.executions import service
from app.executions.schemas import MAX_BULK, BulkRequest, BulkResult, ExecutionOut
from tables.enums import ExecutionStatus

PAGE_SIZE = 50
LIVE = frozenset({ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING})
# htmx stops polling an element whose response has this status (litestar's HXStopPolling).
STOP_POLLING = 286
POLL_SECONDS = 3
# Bulk actions: the page's name → (the service's action, retry from the first step).
BULK_ACTIONS = {
    "cancel": ("cancel", False),
    "retry": ("retry", False),
    "retry_from_start": ("retry", True),
}

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


async def _list(principal: Principal, f: ExecutionFilters) -> tuple[list[ExecutionOut], str | None]:
    if f.errors:
        return [], None
    try:
        result = await service.list_executions(
            tenant_id=principal.tenant_id,
            workflow_id=f.workflow,
            client_id=f.client,
            status=f.status,
            created_after=f.created_from,
            created_before=f.created_to,
            event_type=f.event_type,
            q=f.q,
            page=PageQuery(cursor=f.cursor, limit=PAGE_SIZE),
        )
    except UnprocessableError as exc:
        f.errors.extend({"path": e["path"], "message": e["message"]} for e in exc.errors)
        return [], None
    return result.items, result.next_cursor


class ExecutionPages(Controller):
    path = "/executions"

    @get("/", name="dash_executions")
    async def list_page(self, request: DashRequest, principal: Me) -> Template:
        f = parse_execution_filters(request.query_params)
        items, next_cursor = await _list(principal, f)
        live = any(e.status in LIVE for e in items)
        is_htmx = bool(request.htmx)
        status_code = 400 if f.errors else 200
        if is_htmx and not live and not f.errors:
            status_code = STOP_POLLING
        return page(
            "executions_rows.html" if is_htmx else "executions.html",
            request,
            principal,
            status_code=status_code,
            f=f,
            items=items,
            next_cursor=next_cursor,
            live=live,
            poll_seconds=POLL_SECONDS,
            names=await workflow_names(principal.tenant_id),
            clients=await client_names(
                principal.tenant_id, [f.client, *(e.client_id for e in items)]
            ),
            statuses=[s.value for s in ExecutionStatus],
            bulk_done=_bulk_done(request),
        )

    @get("/bulk", name="dash_executions_bulk")
    async def bulk_preview(self, request: DashRequest, principal: Me) -> Template:
        """How many executions the action would touch, and the button that confirms that count."""
        f = parse_execution_filters(request.query_params)
        action = _bulk_action(request.query_params.get("action"))
        return await _bulk_page(request, principal, f, action)

    @post("/bulk", name="dash_executions_bulk_post")
    async def bulk_apply(self, request: DashRequest, principal: Me, data: Form) -> Any:
        f = parse_execution_filters(data)
        action = _bulk_action(data.get("action"))
        if f.errors:
            raise UnprocessableError("Some filters are not valid.", errors=_field_errors(f))
        try:
            confirm = int(str(data.get("confirm", "")))
        except ValueError as exc:
            raise UnprocessableError("Confirm the count shown on the page.") from exc
        kind, from_start = BULK_ACTIONS[action]
        try:
            # The same service and transaction as POST /api/v1/executions/bulk/{cancel,retry}.
            result = await service.bulk_action(
                tenant_id=principal.tenant_id,
                action=kind,
                request=BulkRequest(
                    filter=f.service_filter(), confirm=confirm, from_start=from_start
                ),
            )
        except ConflictError as exc:
            # The set changed since the preview: show the new count, nothing was done.
            return await _bulk_page(request, principal, f, action, warning=exc.detail)
        query = f.query(cursor=None, bulk=action, done=str(result.count))
        return see_other(request, f"/dashboard/executions?{query}")

    @get("/{execution_id:uuid}", name="dash_execution")
    async def detail(
        self, request: DashRequest, principal: Me, execution_id: FromPath[UUID]
    ) -> Template:
        execution = await service.get_execution(
            tenant_id=principal.tenant_id, execution_id=execution_id
        )
        live = execution.status in LIVE
        is_htmx = bool(request.htmx)
        return page(
            "execution_body.html" if is_htmx else "execution.html",
            request,
            principal,
            status_code=STOP_POLLING if is_htmx and not live else 200,
            e=execution,
            live=live,
            poll_seconds=POLL_SECONDS,
            names=await workflow_names(principal.tenant_id),
            clients=await client_names(principal.tenant_id, [execution.client_id]),
            steps=execution.definition.get("actions", []),
        )

    @post("/{execution_id:uuid}/cancel", name="dash_execution_cancel")
    async def cancel(
        self, request: DashRequest, principal: Me, execution_id: FromPath[UUID]
    ) -> Any:
        await service.cancel_execution(tenant_id=principal.tenant_id, execution_id=execution_id)
        return see_other(request, f"/dashboard/executions/{execution_id}")

    @post("/{execution_id:uuid}/retry", name="dash_execution_retry")
    async def retry(self, request: DashRequest, principal: Me, execution_id: FromPath[UUID]) -> Any:
        return await _retry(request, principal, execution_id, from_start=False)

    @post("/{execution_id:uuid}/retry-from-start", name="dash_execution_retry_from_start")
    async def retry_from_start(
        self, request: DashRequest, principal: Me, execution_id: FromPath[UUID]
    ) -> Any:
        return await _retry(request, principal, execution_id, from_start=True)


async def _retry(
    request: DashRequest, principal: Principal, execution_id: UUID, *, from_start: bool
) -> Any:
    await service.retry_execution(
        tenant_id=principal.tenant_id, execution_id=execution_id, from_start=from_start
    )
    return see_other(request, f"/dashboard/executions/{execution_id}")


def _bulk_action(raw: Any) -> str:
    action = str(raw or "")
    if action not in BULK_ACTIONS:
        raise UnprocessableError(
            "Choose a bulk action.",
            errors=[FieldError("action", f"one of {', '.join(BULK_ACTIONS)}")],
        )
    return action


def _field_errors(f: ExecutionFilters) -> list[FieldError]:
    return [FieldError(e["path"], e["message"]) for e in f.errors]


async def _bulk_page(
    request: DashRequest,
    principal: Principal,
    f: ExecutionFilters,
    action: str,
    *,
    warning: str | None = None,
) -> Template:
    result: BulkResult | None = None
    if not f.errors:
        kind, from_start = BULK_ACTIONS[action]
        try:
            result = await service.bulk_action(
                tenant_id=principal.tenant_id,
                action=kind,
                request=BulkRequest(filter=f.service_filter(), from_start=from_start),
            )
        except UnprocessableError as exc:
            f.errors.extend({"path": e["path"], "message": e["message"]} for e in exc.errors)
    return page(
        "bulk.html",
        request,
        principal,
        status_code=400 if f.errors else 200,
        f=f,
        action=action,
        result=result,
        warning=warning,
        max_bulk=MAX_BULK,
        names=await workflow_names(principal.tenant_id),
    )


def _bulk_done(request: DashRequest) -> dict[str, str] | None:
    action = request.query_params.get("bulk")
    done = request.query_params.get("done")
    if action in BULK_ACTIONS and done and done.isascii() and done.isdigit():
        return {"action": action, "count": done}
    return None
