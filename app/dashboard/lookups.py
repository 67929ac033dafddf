"""Names for ids on console pages, read through the features' own services."""

from __future__ import annotations

from uuid import UUID

from app.core.pagination import MAX_LIMIT
from app.workflows.service import list_workflows


async def workflow_names(tenant_id: UUID) -> dict[UUID, str]:
    """The tenant's workflow names (one page of the largest size: a tenant has few workflows)."""
    result = await list_workflows(tenant_id=tenant_id, limit=MAX_LIMIT)
    return {w.id: w.name for w in result.items}
