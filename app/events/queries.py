"""Custom events posted through the API, and the event listing. Never commits."""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.audit.service import record_audit
from app.clients.listing import CreatedSort, Where, keyset_rows, sort_spec
from app.core.errors import FieldError, NotFoundError, UnprocessableError
from app.core.sql import fetchrow, fetchval
from app.events.schemas import EventCreate, EventOut, EventPage
from app.events.service import record_event
from tables.enums import TriggerType

_COLUMNS = (
    "e.id, e.type, e.client, e.payload, e.actor, e.idempotency_key, e.depth, "
    "e.caused_by_execution, e.dispatched_at, e.created_at"
)
BUILT_IN = frozenset(t.value for t in TriggerType)


def _out(row: Mapping[str, Any]) -> EventOut:
    payload = row["payload"]
    return EventOut(
        id=row["id"],
        type=row["type"],
        client_id=row["client"],
        payload=msgspec.json.decode(payload) if isinstance(payload, str) else payload,
        actor_id=row["actor"],
        idempotency_key=row["idempotency_key"],
        depth=row["depth"],
        caused_by_execution=row["caused_by_execution"],
        dispatched_at=row["dispatched_at"],
        created_at=row["created_at"],
    )


async def post_custom_event(
    *, tenant_id: UUID, actor_id: UUID, data: EventCreate, header_key: str | None
) -> tuple[EventOut, bool]:
    """Record a CUSTOM event once per idempotency key; (event, created)."""
    errors = []
    if data.type.upper() in BUILT_IN:
        errors.append(FieldError("$.type", "built-in event types cannot be posted"))
    if header_key is not None and not 0 < len(header_key) <= 200:
        errors.append(FieldError("header.Idempotency-Key", "must be 1 to 200 characters"))
    if errors:
        raise UnprocessableError("The event has invalid fields.", errors=errors)
    if data.client_id is not None and not await fetchval(
        "SELECT 1 FROM clients WHERE id = $1 AND tenant = $2", data.client_id, tenant_id
    ):
        raise NotFoundError(
            "The client does not exist.", errors=[FieldError("$.client_id", "unknown client")]
        )
    recorded = await record_event(
        tenant_id=tenant_id,
        type=data.type,
        payload=data.payload,
        client_id=data.client_id,
        actor_id=actor_id,
        idempotency_key=header_key or data.idempotency_key,
    )
    row = await fetchrow(f"SELECT {_COLUMNS} FROM events e WHERE e.id = $1", recorded.id)
    assert row is not None  # just written or found by its key in this transaction
    event = _out(row)
    if recorded.created:
        await record_audit(
            tenant_id=tenant_id,
            action="create",
            resource_type="event",
            resource_id=event.id,
            after={
                "type": event.type,
                "client_id": None if event.client_id is None else str(event.client_id),
                "idempotency_key": event.idempotency_key,
            },
        )
    return event, recorded.created


async def list_events(
    *,
    tenant_id: UUID,
    type: str | None,
    client_id: UUID | None,
    created_after: datetime | None,
    created_before: datetime | None,
    sort: CreatedSort = CreatedSort.CREATED_AT_DESC,
    cursor: str | None = None,
    limit: int = 50,
) -> EventPage:
    where = Where()
    where.add(f"e.tenant = {where.param(tenant_id)}")
    if type is not None:
        where.add(f"e.type = {where.param(type)}")
    if client_id is not None:
        where.add(f"e.client = {where.param(client_id)}")
    if created_after is not None:
        where.add(f"e.created_at >= {where.param(created_after)}")
    if created_before is not None:
        where.add(f"e.created_at < {where.param(created_before)}")
    rows, next_cursor = await keyset_rows(
        select=_COLUMNS,
        from_="events e",
        where=where,
        sort=sort_spec(sort.value, alias="e"),
        id_column="e.id",
        cursor=cursor,
        limit=limit,
    )
    return EventPage(items=[_out(r) for r in rows], next_cursor=next_cursor)
