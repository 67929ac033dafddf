"""Wire types of the events API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import Meta

from tables.enums import MatchReason

EventName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="Your event's name; built-in names are refused",
    ),
]
IdempotencyKey = Annotated[str, Meta(min_length=1, max_length=200)]


class EventCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    type: EventName
    payload: dict[str, Any] = {}
    client_id: UUID | None = None
    # Or the Idempotency-Key header (which wins when both are sent): the same key twice
    # records one event.
    idempotency_key: IdempotencyKey | None = None


class EventOut(msgspec.Struct, kw_only=True):
    id: UUID
    type: str
    client_id: UUID | None
    payload: dict[str, Any]
    actor_id: UUID | None
    idempotency_key: str | None
    depth: int
    caused_by_execution: UUID | None
    dispatched_at: datetime | None
    created_at: datetime


class EventPage(msgspec.Struct, kw_only=True):
    items: list[EventOut]
    next_cursor: str | None = None


class EventBatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Each item as the body of POST /events; its idempotency key goes in `idempotency_key`.
    items: Annotated[list[EventCreate], Meta(min_length=1, max_length=1000)]


class EventBatchResult(msgspec.Struct, kw_only=True):
    index: int
    # False: an event with this idempotency key existed already (it is the one returned).
    created: bool
    event: EventOut


class EventBatchOut(msgspec.Struct, kw_only=True):
    items: list[EventBatchResult]


class MatchOut(msgspec.Struct, kw_only=True):
    """One workflow's verdict for the event: did it run, and why (not)."""

    workflow_id: UUID
    workflow_name: str
    workflow_version: int
    matched: bool
    reason: MatchReason
    # One line for people, e.g. `trigger_config.to wants "ACTIVE"; the event has "CHURNED"`.
    message: str
    # TRIGGER_CONFIG: {key, wanted, actual}; CONDITION: {path, field, operator, value, actual,
    # missing}; LOOP_GUARD: {depth, max_depth}.
    detail: dict[str, Any] | None
    execution_id: UUID | None
    decided_at: datetime


class EventMatches(msgspec.Struct, kw_only=True):
    event_id: UUID
    event_type: str
    # The workflows.trigger_type the event was matched against (CUSTOM for your own events).
    trigger_type: str
    depth: int
    # Null while the event waits for a worker: nothing has been decided yet.
    dispatched_at: datetime | None
    summary: str
    matches: list[MatchOut]
