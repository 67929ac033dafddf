"""Emails a workflow produces: drafts for an operator, or (SEND mode) queued for delivery.

State machine: DRAFT → APPROVED (a person, or SEND mode for an allowlisted recipient) → SENDING
(attempt recorded) → SENT | FAILED, or back to APPROVED for a retry; DRAFT → REJECTED.
Delivery itself lives in app/emails/delivery.py.
"""

# ruff: noqa: S608 - SQL is composed from fixed column lists and enum constants; values are $n.

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from app.audit.service import record_audit
from app.core import metrics
from app.core.config import Settings, get_settings
from app.core.errors import ConflictError, FieldError, NotFoundError, UnprocessableError
from app.core.listing import FIRST_PAGE, PageQuery, Where, keyset_rows
from app.core.sql import fetch, fetchrow, to_struct
from app.core.uow import enqueue_after_commit
from app.emails.addresses import InvalidRecipient, parse_recipient
from app.emails.policy import draft_reason
from app.emails.schemas import EmailDecisions, EmailOut, EmailPage, EmailSkipped
from tables.enums import EmailStatus

_COLUMNS = """
    id, client, execution, "to", subject, body, status, draft_reason, decided_by, decided_at,
    message_id, attempts, send_started_at, sent_at, error, created_at, updated_at
"""


def _one_line(text: str) -> str:
    # A header value with CR/LF would let a template inject extra headers (Bcc: ...).
    return " ".join(text.splitlines()).strip()


def to_out(row: Mapping[str, Any]) -> EmailOut:
    return to_struct(EmailOut, row, client_id="client", execution_id="execution")


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
    whose draft_reason says why it waits for a person. A `to` that is not exactly one valid
    address raises InvalidRecipient: no email is stored that could never be delivered.
    """
    settings = settings or get_settings()
    email_id = uuid4()
    recipient = parse_recipient(to)
    to, subject = recipient.header, _one_line(subject)
    reason = draft_reason(recipient, settings)
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
        _deliver_after_commit(email_id)
    metrics.EMAILS.labels("drafted" if status is EmailStatus.DRAFT else "queued").inc()
    result: dict[str, Any] = {"email_id": str(email_id), "status": status.value}
    if reason:
        result["draft_reason"] = reason
    return result


async def list_emails(
    *,
    tenant_id: UUID,
    status: EmailStatus | None = None,
    client_id: UUID | None = None,
    page: PageQuery = FIRST_PAGE,
) -> EmailPage:
    """The tenant's emails, newest first, filtered by status and client."""
    where = Where().equal("m.tenant", tenant_id)
    where.equal("m.status", status)
    where.equal("m.client", client_id)
    rows, next_cursor = await keyset_rows(
        select=", ".join(f"m.{c.strip()}" for c in _COLUMNS.split(",")),
        from_="emails m",
        where=where,
        alias="m",
        page=page,
    )
    return EmailPage(items=[to_out(r) for r in rows], next_cursor=next_cursor)


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
    if to_status is EmailStatus.APPROVED:
        await _refuse_invalid_recipient(tenant_id=tenant_id, email_id=email_id)
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
        action="approve" if to_status is EmailStatus.APPROVED else "reject",
        resource_type="email",
        resource_id=email_id,
        before={"status": EmailStatus.DRAFT.value},
        after={"status": to_status.value},
    )
    return to_out(row)


async def _refuse_invalid_recipient(*, tenant_id: UUID, email_id: UUID) -> None:
    # Drafts stored before recipients were parsed strictly may hold "None" or a list.
    current = await _load(tenant_id=tenant_id, email_id=email_id)
    if current["status"] != EmailStatus.DRAFT.value:
        return  # _decide answers 409
    try:
        parse_recipient(current["to"])
    except InvalidRecipient as exc:
        raise UnprocessableError(
            "This email cannot be approved: its recipient is not a valid email address; "
            "reject it instead.",
            errors=[FieldError("$.to", str(exc))],
        ) from None


def _deliver_after_commit(email_id: UUID) -> None:
    """Queue the first delivery attempt once the approval commits (a job earlier sees no row)."""
    # Imported here: the job module needs the worker's queue, which imports the engine.
    from app.emails.jobs import enqueue_delivery

    enqueue_after_commit(lambda: enqueue_delivery(email_id))


async def approve_email(*, tenant_id: UUID, email_id: UUID, actor_id: UUID | None) -> EmailOut:
    """A person approves a draft: it is sent once the approval commits."""
    email = await _decide(
        tenant_id=tenant_id, email_id=email_id, actor_id=actor_id, to_status=EmailStatus.APPROVED
    )
    _deliver_after_commit(email.id)
    return email


async def reject_email(*, tenant_id: UUID, email_id: UUID, actor_id: UUID | None) -> EmailOut:
    """A person rejects a draft: it is never sent."""
    return await _decide(
        tenant_id=tenant_id, email_id=email_id, actor_id=actor_id, to_status=EmailStatus.REJECTED
    )


async def decide_emails(
    *, tenant_id: UUID, actor_id: UUID | None, ids: list[UUID], action: str
) -> EmailDecisions:
    """Approve or reject a selection: every DRAFT in it is decided, the rest are skipped with why.

    One transaction (the caller's); the selection is locked first, so nothing in it can change
    between the check and the decision. Approved ones are queued for delivery on commit.
    """
    to_status = EmailStatus.APPROVED if action == "approve" else EmailStatus.REJECTED
    wanted = list(dict.fromkeys(ids))  # once each, in the order given
    rows = await fetch(
        'SELECT id, status, "to" FROM emails WHERE tenant = $1 AND id = ANY($2::uuid[]) '
        "ORDER BY id FOR UPDATE",
        tenant_id,
        wanted,
    )
    found = {r["id"]: r for r in rows}
    decided: list[EmailOut] = []
    skipped: list[EmailSkipped] = []
    for email_id in wanted:
        row = found.get(email_id)
        if row is None:
            skipped.append(EmailSkipped(id=email_id, reason="no such email"))
            continue
        if row["status"] != EmailStatus.DRAFT.value:
            skipped.append(EmailSkipped(id=email_id, reason=f"it is {row['status']}"))
            continue
        if to_status is EmailStatus.APPROVED:
            try:
                parse_recipient(row["to"])
            except InvalidRecipient as exc:
                reason = f"its recipient is not a valid email address ({exc}); reject it"
                skipped.append(EmailSkipped(id=email_id, reason=reason))
                continue
        decided.append(
            await _decide(
                tenant_id=tenant_id, email_id=email_id, actor_id=actor_id, to_status=to_status
            )
        )
        if to_status is EmailStatus.APPROVED:
            _deliver_after_commit(email_id)
    return EmailDecisions(decided=decided, skipped=skipped)


UNKNOWN_OUTCOME = "delivery state unknown"


async def resend_email(
    *, tenant_id: UUID, email_id: UUID, actor_id: UUID | None, confirm_possibly_delivered: bool
) -> EmailOut:
    """A person sends a FAILED email again: APPROVED with a fresh attempt budget.

    Nothing automatic ever does this (the delivery job and the sweeps never leave FAILED), so an
    email goes out a second time only by someone's decision, recorded in the audit log. When the
    last outcome is unknown the person must confirm it (the message may have arrived); the retry
    keeps the email's Message-ID, so a receiving system can recognise a duplicate.
    """
    current = await _load(tenant_id=tenant_id, email_id=email_id)
    if current["status"] != EmailStatus.FAILED.value:
        raise ConflictError(
            f"Only a FAILED email can be sent again; this one is {current['status']}."
        )
    try:
        parse_recipient(current["to"])
    except InvalidRecipient as exc:
        raise UnprocessableError(
            "This email cannot be sent: its recipient is not a valid email address.",
            errors=[FieldError("$.to", str(exc))],
        ) from None
    if UNKNOWN_OUTCOME in (current["error"] or "") and not confirm_possibly_delivered:
        raise ConflictError(
            "The last attempt may have reached the recipient "
            f"(Message-ID {current['message_id']}); check the SMTP server's log, then send "
            'again with {"confirm_possibly_delivered": true} if it did not arrive.'
        )
    row = await fetchrow(
        f"""
        UPDATE emails
        SET status = '{EmailStatus.APPROVED.value}', attempts = 0, error = NULL,
            send_started_at = NULL, decided_by = $3, decided_at = now(), updated_at = now()
        WHERE id = $1 AND tenant = $2 AND status = '{EmailStatus.FAILED.value}'
        RETURNING {_COLUMNS}
        """,
        email_id,
        tenant_id,
        actor_id,
    )
    if row is None:  # someone else sent it again meanwhile
        raise ConflictError("The email is no longer FAILED; it was sent again meanwhile.")
    await record_audit(
        tenant_id=tenant_id,
        action="resend",
        resource_type="email",
        resource_id=email_id,
        before={
            "status": EmailStatus.FAILED.value,
            "attempts": current["attempts"],
            "error": current["error"],
        },
        after={"status": EmailStatus.APPROVED.value, "attempts": 0},
    )
    from app.emails.jobs import enqueue_resend

    enqueue_after_commit(lambda: enqueue_resend(email_id))
    return to_out(row)
