"""Wire types of the webhook APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

SourceName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=100,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="lower-case letters, digits, '.', '_' and '-'",
    ),
]
EventName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]


class SourceCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    source: SourceName


class SourceOut(msgspec.Struct, kw_only=True):
    id: UUID
    source: str
    # Where the sender posts: /api/v1/webhooks/{tenant_slug}/{source}.
    path: str
    created_at: datetime
    updated_at: datetime


class SourceWithSecret(SourceOut, kw_only=True):
    # Shown once, on create and rotate: store it in the sending system now.
    secret: str


class SourceList(msgspec.Struct, kw_only=True):
    items: list[SourceOut]


class InboundBody(msgspec.Struct, kw_only=True):
    """What a sender posts: the CUSTOM event's name and its payload."""

    event: EventName
    data: dict[str, Any] = {}


class InboundAccepted(msgspec.Struct, kw_only=True):
    duplicate: bool
    event_id: UUID | None
    delivery_id: str
