"""Bulk sync: create or update many clients by the CRM's external id, in one transaction.

Each item goes through the same service functions as the single routes (create_client,
update_client), so validation, events and audit are theirs; this module only finds which items
exist, keeps two concurrent batches from creating the same external id twice, and reports.
All or nothing: any invalid item refuses the whole batch with every bad item's path, and the
caller's unit of work rolls back.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from app.clients import service
from app.clients.schemas import (
    BatchOutcome,
    ClientBatchResult,
    ClientCreate,
    ClientUpdate,
    ClientUpsert,
)
from app.core.batch import BatchErrors
from app.core.errors import AppError
from app.core.sql import fetch


def _fields(item: ClientUpsert) -> dict[str, Any]:
    """The fields the item sets, without its external id (UNSET ones left out)."""
    return {
        f: v for f in ClientUpdate.__struct_fields__ if (v := getattr(item, f)) is not msgspec.UNSET
    }


async def _existing(tenant_id: UUID, external_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Lock the external ids (creates of one id serialize across requests), then the rows."""
    await fetch(
        """
        SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':' || x, 0))
        FROM (SELECT x FROM unnest($2::text[]) AS x ORDER BY x) AS ids
        """,
        str(tenant_id),
        external_ids,
    )
    rows = await fetch(
        f"SELECT {service.COLUMNS} FROM clients "  # noqa: S608 - fixed column list
        "WHERE tenant = $1 AND external_id = ANY($2::text[]) FOR UPDATE",
        tenant_id,
        external_ids,
    )
    return {r["external_id"]: service.snapshot(r) for r in rows}


def _same(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return {k: v for k, v in before.items() if k != "updated_at"} == {
        k: v for k, v in after.items() if k != "updated_at"
    }


async def upsert_clients(
    *, tenant_id: UUID, actor_id: UUID | None, items: list[ClientUpsert]
) -> list[ClientBatchResult]:
    """Create or update each item by external id; call inside unit_of_work()."""
    errors = BatchErrors()
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.external_id in seen:
            errors.add_field(
                index, "$.external_id", f"repeats item {seen[item.external_id]} of this batch"
            )
        seen.setdefault(item.external_id, index)
    errors.raise_any("clients")
    existing = await _existing(tenant_id, list(seen))
    results: list[ClientBatchResult] = []
    for index, item in enumerate(items):
        before = existing.get(item.external_id)
        try:
            if before is None:
                create = service.parse(
                    {**msgspec.to_builtins(_fields(item)), "external_id": item.external_id},
                    ClientCreate,
                )
                snap = await service.create_client(
                    tenant_id=tenant_id, actor_id=actor_id, data=create
                )
                outcome = BatchOutcome.CREATED
            else:
                snap = await service.update_client(
                    tenant_id=tenant_id,
                    client_id=UUID(before["id"]),
                    changes=item,  # a ClientUpdate: its external_id is the key, not a change
                    actor_id=actor_id,
                )
                outcome = BatchOutcome.UNCHANGED if _same(before, snap) else BatchOutcome.UPDATED
        except AppError as exc:
            errors.add(index, exc)
            continue
        results.append(
            ClientBatchResult(
                index=index, external_id=item.external_id, id=UUID(snap["id"]), outcome=outcome
            )
        )
    errors.raise_any("clients")
    return results


__all__ = ["upsert_clients"]
