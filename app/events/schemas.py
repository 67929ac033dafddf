"""Wire types of the events API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import Meta

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
