"""The outbox: record an event in the caller's transaction; it is enqueued after commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import msgspec

from app.core.sql import fetch
from app.core.uow import after_commit


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    id: UUID
    # False when an event with the same idempotency key already existed (nothing new written).
    created: bool


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
    rows = await fetch(
        """
        INSERT INTO events (id, tenant, type, client, payload, actor, idempotency_key, depth,
                            caused_by_execution, created_at)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, now())
        ON CONFLICT ON CONSTRAINT uq_events_tenant_idempotency_key DO NOTHING
        RETURNING id
        """,
        event_id,
        tenant_id,
        type,
        client_id,
        msgspec.json.encode(payload or {}).decode(),
        actor_id,
        idempotency_key,
        depth,
        caused_by_execution,
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
