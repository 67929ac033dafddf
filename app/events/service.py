"""The outbox: record an event in the caller's transaction; it is enqueued after commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import msgspec

from app.core.logging import current_request_id
from app.core.sql import fetch
from app.core.uow import after_commit, defer_insert


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    id: UUID
    # False when an event with the same idempotency key already existed (nothing new written).
    created: bool


_DEFERRED_EVENT = """
INSERT INTO events (id, tenant, type, client, payload, actor, depth, caused_by_execution,
                    request_id, created_at)
SELECT i, t, ty, c, p::jsonb, a, d, ce, r, now()
FROM unnest({0}::uuid[], {1}::uuid[], {2}::text[], {3}::uuid[], {4}::text[], {5}::uuid[],
            {6}::int[], {7}::uuid[], {8}::text[]) AS x(i, t, ty, c, p, a, d, ce, r)
"""


async def record_event(
    *,
    tenant_id: UUID,
    type: str,
    payload: dict[str, Any] | None = None,
    client_id: UUID | None = None,
    actor_id: UUID | None = None,
    idempotency_key: str | None = None,
    depth: int = 0,
    caused_by_execution: UUID | None = None,
) -> RecordedEvent:
    """Write an event row; must run inside unit_of_work() so it commits with the change."""
    event_id = uuid4()
    row = (
        event_id,
        tenant_id,
        type,
        client_id,
        msgspec.json.encode(payload or {}).decode(),
        actor_id,
        depth,
        caused_by_execution,
        # The request (or the execution, which carries its event's) that caused this event.
        current_request_id(),
    )
    # Nothing to conflict with: queue the row with the unit of work's others (one round trip
    # for all of them at commit, see uow.defer_insert).
    if idempotency_key is None and defer_insert(_DEFERRED_EVENT, row):
        after_commit(event_id)
        return RecordedEvent(id=event_id, created=True)
    rows = await fetch(
        """
        INSERT INTO events (id, tenant, type, client, payload, actor, depth, caused_by_execution,
                            request_id, idempotency_key, created_at)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, now())
        ON CONFLICT ON CONSTRAINT uq_events_tenant_idempotency_key DO NOTHING
        RETURNING id
        """,
        *row,
        idempotency_key,
    )
    if rows:
        after_commit(event_id)
        return RecordedEvent(id=event_id, created=True)
    existing = await fetch(
        "SELECT id FROM events WHERE tenant = $1 AND idempotency_key = $2",
        tenant_id,
        idempotency_key,
    )
    return RecordedEvent(id=existing[0]["id"], created=False)
