"""HTTP: /api/v1/audit-logs (admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.params import QueryParameter

from app.audit.queries import list_audit_logs
from app.core.auth import admin_only
from app.core.errors import error_responses
from app.core.listing import (
    AuthRequest,
    CreatedAfter,
    CreatedBefore,
    CreatedSort,
    Cursor,
    Limit,
    Sort,
)
from app.core.pagination import DEFAULT_LIMIT


class AuditLogOut(msgspec.Struct, kw_only=True):
    id: UUID
    user_id: UUID | None
    api_key_id: UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    # {"before": {...}, "after": {...}} of the changed fields; secrets redacted.
    changes: dict[str, Any]
    ip: str | None
    user_agent: str | None
    created_at: datetime


class AuditLogPage(msgspec.Struct, kw_only=True):
    items: list[AuditLogOut]
    next_cursor: str | None = None


class AuditLogController(Controller):
    path = "/audit-logs"
    tags = ["audit"]
    guards = [admin_only]

    @get("/", summary="List audit entries", responses=error_responses(403))
    async def list_audit_logs(
        self,
        request: AuthRequest,
        resource_type: Annotated[str | None, QueryParameter(max_length=50)] = None,
        resource_id: Annotated[str | None, QueryParameter(max_length=100)] = None,
        user: Annotated[UUID | None, QueryParameter(description="Acting user id")] = None,
        action: Annotated[str | None, QueryParameter(max_length=50)] = None,
        created_after: CreatedAfter = None,
        created_before: CreatedBefore = None,
        sort: Sort = CreatedSort.CREATED_AT_DESC,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> AuditLogPage:
        rows, next_cursor = await list_audit_logs(
            tenant_id=request.user.tenant_id,
            resource_type=resource_type,
            resource_id=resource_id,
            user_id=user,
            action=action,
            created_after=created_after,
            created_before=created_before,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
        return AuditLogPage(
            items=[msgspec.convert(r, AuditLogOut, strict=False) for r in rows],
            next_cursor=next_cursor,
        )
