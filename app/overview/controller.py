"""HTTP: /api/v1/overview — the last 24 hours at a glance (the console's overview page too)."""

from __future__ import annotations

from litestar import Controller, get

from app.core.errors import error_responses
from app.core.listing import AuthRequest
from app.overview.schemas import Overview
from app.overview.service import get_overview


class OverviewController(Controller):
    path = "/overview"
    tags = ["overview"]

    @get(
        "/",
        summary="Executions by status (24 h), workflows failing most, drafts, queue depth",
        responses=error_responses(),
    )
    async def overview(self, request: AuthRequest) -> Overview:
        return await get_overview(tenant_id=request.user.tenant_id)
