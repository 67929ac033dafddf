"""SMTP delivery that never sends a message twice, and retries every attempt that never could have.

1. Read the APPROVED email; connect, EHLO, MAIL FROM, RCPT TO. Nothing is written yet: a crash
   (or any failure) here leaves it APPROVED, and it is retried.
2. DATA, and the server's 354 (it waits for the text and holds nothing yet). Claim, in its own
   commit: APPROVED → SENDING, attempts + 1, send_started_at, and a Message-ID fixed once for
   the email. Only one worker can win the claim (the UPDATE checks the status); a loser drops
   the connection before any text, and the server keeps nothing.
3. The text and its final ".". Then record the outcome, in its own commit: SENT; back to
   APPROVED for a retry (a 4xx reply); or FAILED (5xx, attempts used up, or ambiguous).

A worker that dies between 2 and the end of 3 leaves the email SENDING. The server may have
accepted it, and SMTP gives no way to ask, so the reconcile sweep never resends: it marks the
email FAILED and names the Message-ID to look for on the SMTP server. A person can then decide
(one lost email is better than a customer mailed twice by automation).
"""

# ruff: noqa: S608 - SQL is composed from fixed column lists and enum constants; values are $n.

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from uuid import UUID, uuid4

from app.audit.service import record_audit
from app.core.config import Settings
from app.core.sql import fetch, fetchrow
from app.core.uow import unit_of_work
from app.emails.smtp import ClaimLost, OutgoingEmail, SmtpFailure, send_email
from tables.enums import EmailStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_attempts: int = 5
    backoff_s: float = 5.0
    max_backoff_s: float = 600.0

    def delay_after(self, attempt: int) -> float:
        """Exponential backoff after the given (1-based) failed attempt."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** max(0, attempt - 1)))


DEFAULT_POLICY = DeliveryPolicy()


class Outcome(StrEnum):
    SENT = "SENT"
    RETRY = "RETRY"
    FAILED = "FAILED"
    # Nothing to do: not APPROVED any more (already sent, claimed elsewhere, rejected, gone).
    SKIPPED = "SKIPPED"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    email_id: UUID
    outcome: Outcome
    attempts: int = 0
    detail: str | None = None
    retry_in_s: float | None = None


def _message_id(email_id: UUID, settings: Settings) -> str:
    domain = settings.email_from.rpartition("@")[2] or "crmflow.local"
    return f"<{email_id}.{uuid4().hex[:12]}@{domain}>"


async def _load(email_id: UUID, settings: Settings) -> OutgoingEmail | None:
    """The APPROVED email as it will be sent (its Message-ID provisional until the claim)."""
    row = await fetchrow(
        f"""
        SELECT "to", subject, body, message_id FROM emails
        WHERE id = $1 AND status = '{EmailStatus.APPROVED.value}'
        """,
        email_id,
    )
    if row is None:
        return None
    return OutgoingEmail(
        to=row["to"],
        subject=row["subject"],
        body=row["body"],
        message_id=row["message_id"] or _message_id(email_id, settings),
    )


async def _claim(email_id: UUID, message_id: str) -> str | None:
    """APPROVED → SENDING, committed; the Message-ID to send under, None if someone else won."""
    async with unit_of_work():
        row = await fetchrow(
            f"""
            UPDATE emails
            SET status = '{EmailStatus.SENDING.value}', attempts = attempts + 1,
                send_started_at = now(), message_id = COALESCE(message_id, $2),
                updated_at = now()
            WHERE id = $1 AND status = '{EmailStatus.APPROVED.value}'
            RETURNING message_id
            """,
            email_id,
            message_id,
        )
    return None if row is None else str(row["message_id"])


async def _finish(
    email_id: UUID, *, status: EmailStatus, error: str | None, sent: bool = False
) -> tuple[UUID, int] | None:
    """Move a SENDING email to its outcome; None if the reconcile sweep got there first."""
    row = await fetchrow(
        f"""
        UPDATE emails
        SET status = $2, error = $3, updated_at = now(),
            sent_at = CASE WHEN $4 THEN now() ELSE sent_at END
        WHERE id = $1 AND status = '{EmailStatus.SENDING.value}'
        RETURNING tenant, attempts
        """,
        email_id,
        status.value,
        error,
        sent,
    )
    return None if row is None else (row["tenant"], row["attempts"])


async def _count_unclaimed_failure(email_id: UUID) -> int | None:
    """A failure before the claim still uses up an attempt (the email stays APPROVED for now)."""
    row = await fetchrow(
        f"""
        UPDATE emails SET attempts = attempts + 1, updated_at = now()
        WHERE id = $1 AND status = '{EmailStatus.APPROVED.value}'
        RETURNING attempts
        """,
        email_id,
    )
    return None if row is None else int(row["attempts"])


async def _settle_unclaimed(
    email_id: UUID, *, status: EmailStatus, error: str
) -> tuple[UUID, int] | None:
    """Record the outcome of an attempt that failed before its claim (the email is APPROVED)."""
    row = await fetchrow(
        f"""
        UPDATE emails SET status = $2, error = $3, updated_at = now()
        WHERE id = $1 AND status = '{EmailStatus.APPROVED.value}'
        RETURNING tenant, attempts
        """,
        email_id,
        status.value,
        error,
    )
    return None if row is None else (row["tenant"], row["attempts"])


async def _audit_outcome(
    tenant_id: UUID, email_id: UUID, status: EmailStatus, before: EmailStatus = EmailStatus.SENDING
) -> None:
    await record_audit(
        tenant_id=tenant_id,
        action="send" if status is EmailStatus.SENT else "fail",
        resource_type="email",
        resource_id=email_id,
        before={"status": before.value},
        after={"status": status.value},
    )


async def deliver_email(
    *, email_id: UUID, settings: Settings, policy: DeliveryPolicy = DEFAULT_POLICY
) -> DeliveryResult:
    """One delivery attempt for an APPROVED email (envelope, claim, DATA, record)."""
    outgoing = await _load(email_id, settings)
    if outgoing is None:
        return DeliveryResult(email_id=email_id, outcome=Outcome.SKIPPED)
    claimed: list[str] = []

    async def claim() -> str | None:
        message_id = await _claim(email_id, outgoing.message_id)
        if message_id is not None:
            claimed.append(message_id)
        return message_id

    try:
        reply = await send_email(outgoing, settings=settings, claim=claim)
    except ClaimLost:
        return DeliveryResult(email_id=email_id, outcome=Outcome.SKIPPED)
    except SmtpFailure as failure:
        sent_as = claimed[0] if claimed else outgoing.message_id
        return await _record_failure(email_id, failure, sent_as, policy)
    outgoing_id = claimed[0]
    async with unit_of_work():
        finished = await _finish(email_id, status=EmailStatus.SENT, error=None, sent=True)
        if finished is not None:
            await _audit_outcome(finished[0], email_id, EmailStatus.SENT)
    attempts = finished[1] if finished else 0
    log.info("email %s sent as %s (%s)", email_id, outgoing_id, reply)
    return DeliveryResult(email_id=email_id, outcome=Outcome.SENT, attempts=attempts, detail=reply)


async def _record_failure(
    email_id: UUID, failure: SmtpFailure, message_id: str, policy: DeliveryPolicy
) -> DeliveryResult:
    async with unit_of_work():
        if failure.claimed:
            attempts_row = await fetchrow("SELECT attempts FROM emails WHERE id = $1", email_id)
            attempts = int(attempts_row["attempts"]) if attempts_row else 0
        else:
            counted = await _count_unclaimed_failure(email_id)
            if counted is None:
                # Rejected, or claimed and handled by another worker meanwhile: not ours.
                return DeliveryResult(email_id=email_id, outcome=Outcome.SKIPPED)
            attempts = counted
        if failure.ambiguous:
            error = (
                f"delivery state unknown — {failure.message}; check the SMTP server for "
                f"Message-ID {message_id}; not resent automatically"
            )
            status = EmailStatus.FAILED
        elif failure.retryable and attempts < policy.max_attempts:
            error = f"attempt {attempts} of {policy.max_attempts} failed: {failure.message}"
            status = EmailStatus.APPROVED
        else:
            error = failure.message
            if failure.retryable:
                error = f"gave up after {attempts} attempts: {failure.message}"
            status = EmailStatus.FAILED
        if failure.claimed:
            finished = await _finish(email_id, status=status, error=error)
        else:
            finished = await _settle_unclaimed(email_id, status=status, error=error)
        if finished is not None and status is EmailStatus.FAILED:
            before = EmailStatus.SENDING if failure.claimed else EmailStatus.APPROVED
            await _audit_outcome(finished[0], email_id, status, before)
    log.warning("email %s attempt %d failed: %s", email_id, attempts, failure.message)
    if status is EmailStatus.APPROVED:
        return DeliveryResult(
            email_id=email_id,
            outcome=Outcome.RETRY,
            attempts=attempts,
            detail=error,
            retry_in_s=policy.delay_after(attempts),
        )
    return DeliveryResult(
        email_id=email_id, outcome=Outcome.FAILED, attempts=attempts, detail=error
    )


async def sending_since(*, older_than: timedelta, limit: int = 500) -> list[UUID]:
    """SENDING emails whose attempt started before older_than ago (candidates for reconcile)."""
    rows = await fetch(
        f"""
        SELECT id FROM emails
        WHERE status = '{EmailStatus.SENDING.value}' AND send_started_at < now() - $1::interval
        ORDER BY send_started_at LIMIT {int(limit)}
        """,
        older_than,
    )
    return [row["id"] for row in rows]


async def reconcile_stuck_sending(
    *, stale_after: timedelta, only: list[UUID] | None = None
) -> list[UUID]:
    """SENDING emails older than stale_after (of `only`, if given): their worker died mid-send.

    FAILED, never resent.
    """
    if only is not None and not only:
        return []
    async with unit_of_work():
        rows = await fetch(
            f"""
            UPDATE emails
            SET status = '{EmailStatus.FAILED.value}', updated_at = now(),
                error = 'delivery state unknown after crash — check the SMTP server for '
                        || 'Message-ID ' || COALESCE(message_id, '(none)')
                        || '; not resent automatically'
            WHERE status = '{EmailStatus.SENDING.value}' AND send_started_at < now() - $1::interval
              AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))
            RETURNING id, tenant
            """,
            stale_after,
            only,
        )
        for row in rows:
            await _audit_outcome(row["tenant"], row["id"], EmailStatus.FAILED)
    for row in rows:
        log.error("email %s was SENDING when its worker died; marked FAILED", row["id"])
    return [row["id"] for row in rows]


async def approved_awaiting_delivery(
    *, idle_for: timedelta, limit: int = 500
) -> list[tuple[UUID, int]]:
    """APPROVED emails untouched for idle_for (their job was lost): (id, attempts) to re-enqueue."""
    rows = await fetch(
        f"""
        SELECT id, attempts FROM emails
        WHERE status = '{EmailStatus.APPROVED.value}' AND updated_at < now() - $1::interval
        ORDER BY updated_at LIMIT {int(limit)}
        """,
        idle_for,
    )
    return [(row["id"], int(row["attempts"])) for row in rows]
