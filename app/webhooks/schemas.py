"""Wire types of the webhook APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

from tables.enums import SourceKind

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


HubSpotSecret = Annotated[
    str,
    msgspec.Meta(
        min_length=8,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="the HubSpot app's client secret",
    ),
]


class HubSpotApp(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The HubSpot app whose requests a hubspot source verifies."""

    client_secret: HubSpotSecret


class SourceCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    source: SourceName
    # Given: a source of kind "hubspot", verified with that app's client secret. Left out: a
    # Standard Webhooks source with a whsec_ secret generated here.
    hubspot: HubSpotApp | None = None


class SourceOut(msgspec.Struct, kw_only=True):
    id: UUID
    source: str
    kind: SourceKind
    # Where the sender posts: /api/v1/webhooks/{tenant_slug}/{source}.
    path: str
    created_at: datetime
    updated_at: datetime


class SourceWithSecret(SourceOut, kw_only=True):
    # Shown once, on create and rotate: store it in the sending system now (null for a hubspot
    # source: its secret is the one you sent).
    secret: str | None
    # After a rotate: the previous secret is still accepted until then (null: not at all).
    previous_secret_valid_until: datetime | None = None


class SourceRotate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # How long the previous secret keeps working; WEBHOOK_SECRET_GRACE_S when left out.
    grace_s: Annotated[int, msgspec.Meta(ge=0, le=30 * 24 * 3600)] | None = None
    # A hubspot source's new client secret (required for those; 409 for a standard source).
    hubspot: HubSpotApp | None = None


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


class BatchAccepted(msgspec.Struct, kw_only=True):
    """A HubSpot request: each item one CUSTOM event, a HubSpot id already seen dropped."""

    received: int
    recorded: int
    duplicates: int
    # The events recorded by this request, in item order (duplicates left out).
    event_ids: list[UUID]
