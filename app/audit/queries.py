"""Reading the audit trail (writing is app.audit.service.record_audit)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from app.audit.schemas import AuditLogOut, AuditLogPage
from app.core.listing import FIRST_PAGE, PageQuery, Where, keyset_rows
from app.core.sql import structs


async def list_audit_logs(
    *,
    tenant_id: UUID,
    resource_type: str | None,
    resource_id: str | None,
    user_id: UUID | None,
    action: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    page: PageQuery = FIRST_PAGE,
) -> AuditLogPage:
    """A page of the tenant's audit entries."""
    where = (
        Where()
        .equal("a.tenant", tenant_id)
        .equal("a.resource_type", resource_type)
        .equal("a.resource_id", resource_id)
        .equal('a."user"', user_id)
        .equal("a.action", action)
    )
    where.created_between("a", created_after, created_before)
    rows, next_cursor = await keyset_rows(
        select=(
            'a.id, a."user" AS user_id, a.api_key AS api_key_id, a.action, a.resource_type, '
            "a.resource_id, coalesce(a.changes, '{}'::jsonb) AS changes, a.ip, a.user_agent, "
            "a.created_at"
        ),
        from_="audit_logs a",
        where=where,
        alias="a",
        page=page,
    )
    return AuditLogPage(items=structs(AuditLogOut, rows), next_cursor=next_cursor)
