"""HTTP: /api/v1/audit-logs (admins only)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get
from litestar.params import QueryParameter

from app.audit.queries import list_audit_logs
from app.audit.schemas import AuditLogPage
from app.core.auth import admin_only
from app.core.errors import error_responses
from app.core.listing import AuthRequest, CreatedAfter, CreatedBefore, Paging


class AuditLogController(Controller):
    path = "/audit-logs"
    tags = ["audit"]
    guards = [admin_only]

    @get("/", summary="List audit entries", responses=error_responses(403))
    async def list_audit_logs(
        self,
        request: AuthRequest,
        page: Paging,
        resource_type: Annotated[str | None, QueryParameter(max_length=50)] = None,
        resource_id: Annotated[str | None, QueryParameter(max_length=100)] = None,
        user: Annotated[UUID | None, QueryParameter(description="Acting user id")] = None,
        action: Annotated[str | None, QueryParameter(max_length=50)] = None,
        created_after: CreatedAfter = None,
        created_before: CreatedBefore = None,
    ) -> AuditLogPage:
        return await list_audit_logs(
            tenant_id=request.user.tenant_id,
            resource_type=resource_type,
            resource_id=resource_id,
            user_id=user,
            action=action,
            created_after=created_after,
            created_before=created_before,
            page=page,
        )
