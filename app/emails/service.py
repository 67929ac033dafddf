"""Emails a workflow produces: drafts for an operator, or (SEND mode) queued for delivery.

State machine: DRAFT → APPROVED (a person, or SEND mode for an allowlisted recipient) → SENDING
(attempt recorded) → SENT | FAILED, or back to APPROVED for a retry; DRAFT → REJECTED.
Delivery itself lives in app/emails/delivery.py.
"""

# ruff: noqa: S608 - SQL is composed from fixed column lists and enum constants; values are $n.

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from app.audit.service import record_audit
from app.core.config import Settings, get_settings
from app.core.errors import ConflictError, NotFoundError
from app.core.pagination import build_page, decode_cursor
from app.core.sql import fetch, fetchrow
from app.emails.policy import draft_reason
from app.emails.schemas import EmailOut, EmailPage
from tables.enums import EmailStatus

_COLUMNS = """
    id, client, execution, "to", subject, body, status, draft_reason, decided_by, decided_at,
    message_id, attempts, send_started_at, sent_at, error, created_at, updated_at
"""


def _one_line(text: str) -> str:
    # A header value with CR/LF would let a template inject extra headers (Bcc: ...).
    return " ".join(text.splitlines()).strip()


def to_out(row: Mapping[str, Any]) -> EmailOut:
    return EmailOut(
        id=row["id"],
        client_id=row["client"],
        execution_id=row["execution"],
        to=row["to"],
        subject=row["subject"],
        body=row["body"],
        status=EmailStatus(row["status"]),
        draft_reason=row["draft_reason"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        message_id=row["message_id"],
        attempts=row["attempts"],
        send_started_at=row["send_started_at"],
        sent_at=row["sent_at"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def create_workflow_email(
    *,
    tenant_id: UUID,
    client_id: UUID | None,
    execution_id: UUID | None,
    to: str,
    subject: str,
    body: str,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Store the email a SEND_EMAIL step produced, in the step's transaction.

    SEND mode and an allowlisted recipient: APPROVED, and delivery is queued. Otherwise a DRAFT
    whose draft_reason says why it waits for a person.
    """
    settings = settings or get_settings()
    email_id = uuid4()
    to, subject = _one_line(to), _one_line(subject)
    reason = draft_reason(to, settings)
    status = EmailStatus.DRAFT if reason else EmailStatus.APPROVED
    await fetch(
        """
        INSERT INTO emails (id, tenant, client, execution, "to", subject, body, status,
                            draft_reason, attempts, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, now(), now())
        """,
        email_id,
        tenant_id,
        client_id,
        execution_id,
        to,
        subject,
        body,
        status.value,
        reason,
    )
    if status is EmailStatus.APPROVED:
        # Imported here: the job module needs the worker's queue, which imports the engine.
        from app.emails.jobs import enqueue_delivery_soon

        await enqueue_delivery_soon(email_id)
    result: dict[str, Any] = {"email_id": str(email_id), "status": status.value}
    if reason:
        result["draft_reason"] = reason
    return result


async def list_emails(
    *,
    tenant_id: UUID,
    status: EmailStatus | None = None,
    client_id: UUID | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> EmailPage:
    """The tenant's emails, newest first, filtered by status and client."""
    clauses = ["tenant = $1"]
    args: list[Any] = [tenant_id]
    if status is not None:
        args.append(status.value)
        clauses.append(f"status = ${len(args)}")
    if client_id is not None:
        args.append(client_id)
        clauses.append(f"client = ${len(args)}")
    if cursor:
        created_at, row_id = decode_cursor(cursor, sort_type=datetime)
        args += [created_at, row_id]
        clauses.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    rows = await fetch(
        f"SELECT {_COLUMNS} FROM emails WHERE {' AND '.join(clauses)} "
        f"ORDER BY created_at DESC, id DESC LIMIT {int(limit) + 1}",
        *args,
    )
    page = build_page(rows, limit=limit, key=lambda r: (r["created_at"], r["id"]))
    return EmailPage(items=[to_out(r) for r in page.items], next_cursor=page.next_cursor)


async def _load(*, tenant_id: UUID, email_id: UUID) -> asyncpg.Record:
    row = await fetchrow(
        f"SELECT {_COLUMNS} FROM emails WHERE id = $1 AND tenant = $2", email_id, tenant_id
    )
    if row is None:
        raise NotFoundError(f"Email {email_id} does not exist.")
    return row


async def get_email(*, tenant_id: UUID, email_id: UUID) -> EmailOut:
    return to_out(await _load(tenant_id=tenant_id, email_id=email_id))


async def _decide(
    *, tenant_id: UUID, email_id: UUID, actor_id: UUID | None, to_status: EmailStatus
) -> EmailOut:
    # The WHERE on status makes the decision atomic: two operators cannot both decide.
    row = await fetchrow(
        f"""
        UPDATE emails SET status = $3, decided_by = $4, decided_at = now(), updated_at = now()
        WHERE id = $1 AND tenant = $2 AND status = '{EmailStatus.DRAFT.value}'
        RETURNING {_COLUMNS}
        """,
        email_id,
        tenant_id,
        to_status.value,
        actor_id,
    )
    if row is None:
        current = await _load(tenant_id=tenant_id, email_id=email_id)
        raise ConflictError(
            f"Only a DRAFT email can be approved or rejected; this one is {current['status']}."
        )
    await record_audit(
        tenant_id=tenant_id,
        action="email.approve" if to_status is EmailStatus.APPROVED else "email.reject",
        resource_type="email",
        resource_id=email_id,
        before={"status": EmailStatus.DRAFT.value},
        after={"status": to_status.value},
    )
    return to_out(row)


async def approve_email(*, tenant_id: UUID, email_id: UUID, actor_id: UUID | None) -> EmailOut:
    """A person approves a draft: it will be sent (the caller enqueues after commit)."""
    return await _decide(
        tenant_id=tenant_id, email_id=email_id, actor_id=actor_id, to_status=EmailStatus.APPROVED
    )


async def reject_email(*, tenant_id: UUID, email_id: UUID, actor_id: UUID | None) -> EmailOut:
    """A person rejects a draft: it is never sent."""
    return await _decide(
        tenant_id=tenant_id, email_id=email_id, actor_id=actor_id, to_status=EmailStatus.REJECTED
    )
