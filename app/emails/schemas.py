"""Wire types of the emails API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from tables.enums import EmailStatus


class EmailOut(msgspec.Struct, kw_only=True):
    id: UUID
    client_id: UUID | None
    execution_id: UUID | None
    to: str
    subject: str
    body: str
    status: EmailStatus
    # Why the email waits for a person instead of being sent automatically.
    draft_reason: str | None
    decided_by: UUID | None
    decided_at: datetime | None
    # The Message-ID the SMTP attempt used: search the mail server's log for it.
    message_id: str | None
    attempts: int
    send_started_at: datetime | None
    sent_at: datetime | None
    error: str | None
    created_at: datetime
    updated_at: datetime


class EmailPage(msgspec.Struct, kw_only=True):
    items: list[EmailOut]
    # Pass back as `cursor` for the next page; null on the last page.
    next_cursor: str | None = None
