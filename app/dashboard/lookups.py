"""Names for ids on console pages, read through the features' own services."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from app.clients.service import client_names as _client_names
from app.core.listing import PageQuery
from app.core.pagination import MAX_LIMIT
from app.workflows.service import list_workflows


async def workflow_names(tenant_id: UUID) -> dict[UUID, str]:
    """The tenant's workflow names (one page of the largest size: a tenant has few workflows)."""
    result = await list_workflows(tenant_id=tenant_id, page=PageQuery(limit=MAX_LIMIT))
    return {w.id: w.name for w in result.items}


async def client_names(tenant_id: UUID, ids: Iterable[UUID | None]) -> dict[UUID, str]:
    """The names of the clients a page shows (one query for the page, not one per row)."""
    return await _client_names(tenant_id=tenant_id, ids=[i for i in ids if i is not None])
