"""Console: the overview page an operator keeps open."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from app.core.listing import PageQuery
from app.dashboard.context import DashRequest, Me, page
from app.dashboard.lookups import workflow_names
from app.emails.service import list_emails
from app.executions.service import list_executions
from app.overview.service import get_overview
from tables.enums import EmailStatus, ExecutionStatus


class OverviewPages(Controller):
    path = "/"

    @get("/", name="dash_overview")
    async def overview(self, request: DashRequest, principal: Me) -> Template:
        # The same service as GET /api/v1/overview, plus the newest failures and drafts.
        ov = await get_overview(tenant_id=principal.tenant_id)
        failed = await list_executions(
            tenant_id=principal.tenant_id, status=ExecutionStatus.FAILED, page=PageQuery(limit=10)
        )
        drafts = await list_emails(
            tenant_id=principal.tenant_id,
            status=EmailStatus.DRAFT,
            client_id=None,
            page=PageQuery(limit=10),
        )
        return page(
            "overview.html",
            request,
            principal,
            ov=ov,
            failed=failed.items,
            drafts=drafts.items,
            names=await workflow_names(principal.tenant_id),
        )
