"""Custom events posted through the API, and the event listing. Never commits."""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from app.audit.service import record_audit
from app.core.batch import BatchErrors
from app.core.errors import AppError, FieldError, NotFoundError, UnprocessableError
from app.core.listing import FIRST_PAGE, PageQuery, Where, keyset_rows
from app.core.sql import fetch, fetchrow, fetchval, to_struct
from app.engine.matching import trigger_type_of
from app.events.schemas import (
    EventBatchResult,
    EventCreate,
    EventMatches,
    EventOut,
    EventPage,
    MatchOut,
)
from app.events.service import record_event
from tables.enums import MatchReason, TriggerType

_COLUMNS = (
    "e.id, e.type, e.client, e.payload, e.actor, e.idempotency_key, e.depth, "
    "e.caused_by_execution, e.dispatched_at, e.created_at"
)
BUILT_IN = frozenset(t.value for t in TriggerType)


def _out(row: Mapping[str, Any]) -> EventOut:
    return to_struct(EventOut, row, client_id="client", actor_id="actor")


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
        raise UnprocessableError(
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


async def post_custom_events(
    *, tenant_id: UUID, actor_id: UUID, items: list[EventCreate]
) -> list[EventBatchResult]:
    """Many custom events through post_custom_event, all or none; call inside unit_of_work().

    A repeated idempotency key (in an earlier request or earlier in this batch) records nothing
    new and answers with the first event, as on the single route.
    """
    errors = BatchErrors()
    results: list[EventBatchResult] = []
    for index, item in enumerate(items):
        try:
            event, created = await post_custom_event(
                tenant_id=tenant_id, actor_id=actor_id, data=item, header_key=None
            )
        except AppError as exc:
            errors.add(index, exc)
            continue
        results.append(EventBatchResult(index=index, created=created, event=event))
    errors.raise_any("events")
    return results


async def list_events(
    *,
    tenant_id: UUID,
    type: str | None,
    client_id: UUID | None,
    created_after: datetime | None,
    created_before: datetime | None,
    page: PageQuery = FIRST_PAGE,
) -> EventPage:
    where = Where().equal("e.tenant", tenant_id)
    where.equal("e.type", type)
    where.equal("e.client", client_id)
    where.created_between("e", created_after, created_before)
    rows, next_cursor = await keyset_rows(
        select=_COLUMNS,
        from_="events e",
        where=where,
        alias="e",
        page=page,
    )
    return EventPage(items=[_out(r) for r in rows], next_cursor=next_cursor)


async def get_event(*, tenant_id: UUID, event_id: UUID) -> EventOut:
    """One of the tenant's events; 404 for another tenant's or an unknown id."""
    row = await fetchrow(
        f"SELECT {_COLUMNS} FROM events e WHERE e.id = $1 AND e.tenant = $2", event_id, tenant_id
    )
    if row is None:
        raise NotFoundError("No such event.")
    return _out(row)


def _match_out(row: Mapping[str, Any]) -> MatchOut:
    return MatchOut(
        workflow_id=row["workflow"],
        workflow_name=row["workflow_name"],
        workflow_version=row["workflow_version"],
        matched=row["matched"],
        reason=MatchReason(row["reason"]),
        message=row["message"],
        detail=row["detail"],
        execution_id=row["execution"],
        decided_at=row["created_at"],
    )


async def matches_by_event(*, tenant_id: UUID, event_ids: list[UUID]) -> dict[UUID, list[MatchOut]]:
    """The engine's recorded decisions for these events (the tenant's only), matched first."""
    rows = await fetch(
        """
        SELECT m.event, m.workflow, m.workflow_name, m.workflow_version, m.matched, m.reason,
               m.message, m.detail, m.execution, m.created_at
        FROM event_matches m JOIN events e ON e.id = m.event
        WHERE m.event = ANY($1::uuid[]) AND e.tenant = $2
        ORDER BY m.event, m.matched DESC, m.workflow_name, m.workflow
        """,
        event_ids,
        tenant_id,
    )
    out: dict[UUID, list[MatchOut]] = {i: [] for i in event_ids}
    for row in rows:
        out[row["event"]].append(_match_out(row))
    return out


def _summary(event: EventOut, trigger_type: str, matches: list[MatchOut]) -> str:
    if event.dispatched_at is None:
        return "Not matched yet: the event waits for a worker."
    if not matches:
        return f"No workflow triggers on {trigger_type}: nothing ran."
    ran = sum(1 for m in matches if m.matched)
    return f"{ran} of {len(matches)} workflows with trigger {trigger_type} ran."


async def get_event_matches(*, tenant_id: UUID, event_id: UUID) -> EventMatches:
    """Why each workflow of the event's trigger type ran for it, or did not."""
    event = await get_event(tenant_id=tenant_id, event_id=event_id)
    matches = (await matches_by_event(tenant_id=tenant_id, event_ids=[event_id]))[event_id]
    trigger_type = trigger_type_of(event.type)
    return EventMatches(
        event_id=event.id,
        event_type=event.type,
        trigger_type=trigger_type,
        depth=event.depth,
        dispatched_at=event.dispatched_at,
        summary=_summary(event, trigger_type, matches),
        matches=matches,
    )
