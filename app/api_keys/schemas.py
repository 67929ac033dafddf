"""Wire types of the API-keys API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta


class ApiKeyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(max_length=200)] = ""
    # The user the key acts as; the caller when omitted.
    user_id: UUID | None = None


class ApiKeyOut(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    prefix: str
    user_id: UUID
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreated(msgspec.Struct, kw_only=True):
    """The new key: `key` is shown this once and never again (only its hash is stored)."""

    id: UUID
    name: str
    prefix: str
    user_id: UUID
    created_at: datetime
    key: str


class ApiKeyPage(msgspec.Struct, kw_only=True):
    items: list[ApiKeyOut]
    next_cursor: str | None = None
