"""Wire types of the emails API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
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


# How many emails one bulk decision may name (one page of the console's queue at most).
MAX_SELECTION = 200


class EmailDecide(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Approve or reject a selection of drafts in one go."""

    action: Literal["approve", "reject"]
    ids: Annotated[list[UUID], msgspec.Meta(min_length=1, max_length=MAX_SELECTION)]


class EmailSkipped(msgspec.Struct, kw_only=True):
    id: UUID
    # Why it was left alone: "no such email", "it is SENT", "its recipient is not valid: …".
    reason: str


class EmailDecisions(msgspec.Struct, kw_only=True):
    decided: list[EmailOut]
    skipped: list[EmailSkipped]


class EmailResend(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Required when the last attempt's outcome is unknown (a crash or a lost connection after
    # DATA): the message may have reached the recipient, so sending again is a person's call.
    confirm_possibly_delivered: bool = False
