"""Reading the audit trail (writing is app.audit.service.record_audit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.listing import CreatedSort, Where, keyset_rows, sort_spec


async def list_audit_logs(
    *,
    tenant_id: UUID,
    resource_type: str | None,
    resource_id: str | None,
    user_id: UUID | None,
    action: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    sort: CreatedSort = CreatedSort.CREATED_AT_DESC,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the tenant's audit entries as dicts, and the next cursor."""
    where = Where()
    where.add(f"a.tenant = {where.param(tenant_id)}")
    for column, value in (
        ("resource_type", resource_type),
        ("resource_id", resource_id),
        ('"user"', user_id),
        ("action", action),
    ):
        if value is not None:
            where.add(f"a.{column} = {where.param(value)}")
    if created_after is not None:
        where.add(f"a.created_at >= {where.param(created_after)}")
    if created_before is not None:
        where.add(f"a.created_at < {where.param(created_before)}")
    rows, next_cursor = await keyset_rows(
        select=(
            'a.id, a."user", a.api_key, a.action, a.resource_type, a.resource_id, a.changes, '
            "a.ip, a.user_agent, a.created_at"
        ),
        from_="audit_logs a",
        where=where,
        sort=sort_spec(sort.value, alias="a"),
        id_column="a.id",
        cursor=cursor,
        limit=limit,
    )
    items = [
        {
            "id": r["id"],
            "user_id": r["user"],
            "api_key_id": r["api_key"],
            "action": r["action"],
            "resource_type": r["resource_type"],
            "resource_id": r["resource_id"],
            "changes": r["changes"] or {},
            "ip": r["ip"],
            "user_agent": r["user_agent"],
            "created_at": r["created_at"],
        }
        for r in rows
    ]
    return items, next_cursor
