"""Wire types of the notes API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

Body = Annotated[str, Meta(min_length=1, max_length=20_000, pattern=r"[^ \t\n\r\f\v]")]


class NoteCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    client_id: UUID
    body: Body


class NoteUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    body: Body


class NoteOut(msgspec.Struct, kw_only=True):
    id: UUID
    client_id: UUID
    body: str
    author_id: UUID | None
    execution_id: UUID | None
    created_at: datetime
    updated_at: datetime


class NotePage(msgspec.Struct, kw_only=True):
    items: list[NoteOut]
    next_cursor: str | None = None
