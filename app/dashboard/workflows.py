"""Console: workflows — list, a readable definition, activate/deactivate (admins only)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.response import Template

from app.core.auth import ensure_admin
from app.core.listing import PageQuery
from app.core.pagination import MAX_LIMIT
from app.dashboard.context import DashRequest, Me, page, see_other
from app.workflows import service
from app.workflows.activity import workflow_activity


class WorkflowPages(Controller):
    path = "/workflows"

    @get("/", name="dash_workflows")
    async def list_page(self, request: DashRequest, principal: Me) -> Template:
        cursor = request.query_params.get("cursor") or None
        result = await service.list_workflows(
            tenant_id=principal.tenant_id, page=PageQuery(cursor=cursor, limit=MAX_LIMIT)
        )
        # The same service as GET /api/v1/workflows/activity.
        activity = await workflow_activity(tenant_id=principal.tenant_id)
        return page(
            "workflows.html",
            request,
            principal,
            items=result.items,
            next_cursor=result.next_cursor,
            counts={a.workflow_id: a for a in activity.items},
            since=activity.since,
        )

    @get("/{workflow_id:uuid}", name="dash_workflow")
    async def detail(
        self, request: DashRequest, principal: Me, workflow_id: FromPath[UUID]
    ) -> Template:
        workflow = await service.get_workflow(
            tenant_id=principal.tenant_id, workflow_id=workflow_id
        )
        return page("workflow.html", request, principal, w=workflow)

    @post("/{workflow_id:uuid}/activate", name="dash_workflow_activate")
    async def activate(
        self, request: DashRequest, principal: Me, workflow_id: FromPath[UUID]
    ) -> Any:
        return await _set_active(request, principal, workflow_id, active=True)

    @post("/{workflow_id:uuid}/deactivate", name="dash_workflow_deactivate")
    async def deactivate(
        self, request: DashRequest, principal: Me, workflow_id: FromPath[UUID]
    ) -> Any:
        return await _set_active(request, principal, workflow_id, active=False)


async def _set_active(
    request: DashRequest, principal: Any, workflow_id: UUID, *, active: bool
) -> Any:
    ensure_admin(principal)  # the same rule as the API's admin_only guard
    await service.set_active(tenant_id=principal.tenant_id, workflow_id=workflow_id, active=active)
    return see_other(request, f"/dashboard/workflows/{workflow_id}")
