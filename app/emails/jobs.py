"""Email jobs: `emails.deliver` (one attempt, re-enqueued for a retry) and `emails.sweep` (cron).

The job key carries the attempt number, so the sweep and a scheduled retry of the same attempt
collapse into one job, while the next attempt can be queued from inside the running one.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import structlog

from app.core.config import Settings, get_settings
from app.emails.delivery import (
    DEFAULT_POLICY,
    Outcome,
    approved_awaiting_delivery,
    deliver_email,
    reconcile_stuck_sending,
)
from app.worker.enqueue import get_queue, job_name

log = structlog.get_logger("crmflow.emails")

# An APPROVED email untouched this long has lost its job (crash, queue down): enqueue it again.
IDLE_BEFORE_SWEEP = timedelta(seconds=30)
SWEEP_CRON = "* * * * * */10"


def job_timeout_s(settings: Settings) -> int:
    # Connect, MAIL, RCPT, DATA and QUIT each get the SMTP timeout; plus slack.
    return int(settings.smtp_timeout_s * 6 + 10)


def stale_sending_after(settings: Settings) -> timedelta:
    """A SENDING email older than this has no live worker: it exceeded any job timeout."""
    return timedelta(seconds=max(120, 2 * job_timeout_s(settings)))


async def enqueue_delivery(email_id: UUID, *, attempts: int = 0, delay_s: float = 0.0) -> bool:
    """Queue the next delivery attempt; False without a queue (the sweep will do it)."""
    queue = get_queue()
    if queue is None:
        return False
    options: dict[str, Any] = {
        "key": f"emails.deliver:{email_id}:{attempts}",
        "timeout": job_timeout_s(get_settings()),
        # One SAQ attempt: our own attempt counter and backoff live on the email row.
        "retries": 1,
    }
    if delay_s > 0:
        options["scheduled"] = int(time.time() + delay_s) + 1
    try:
        await queue.enqueue("emails.deliver", email_id=str(email_id), **options)
    except Exception:
        log.exception("emails.enqueue_failed", email_id=str(email_id))
        return False
    return True


async def enqueue_delivery_soon(email_id: UUID) -> None:
    """From inside the transaction creating an APPROVED email: a job a moment later.

    If it runs before the commit it finds nothing to claim and ends; the sweep then delivers.
    """
    await enqueue_delivery(email_id, attempts=0, delay_s=1.0)


@job_name("emails.deliver")
async def deliver_job(ctx: dict[str, Any], *, email_id: str) -> dict[str, Any]:
    """One delivery attempt; a retryable failure queues the next attempt after its backoff."""
    result = await deliver_email(
        email_id=UUID(email_id), settings=get_settings(), policy=DEFAULT_POLICY
    )
    if result.outcome is Outcome.RETRY and result.retry_in_s is not None:
        await enqueue_delivery(result.email_id, attempts=result.attempts, delay_s=result.retry_in_s)
    return {"email_id": email_id, "outcome": result.outcome.value, "detail": result.detail}


@job_name("emails.sweep")
async def sweep_job(ctx: dict[str, Any]) -> dict[str, Any]:
    """Fail SENDING emails whose worker died (never resend); re-enqueue lost APPROVED ones."""
    settings = get_settings()
    failed = await reconcile_stuck_sending(stale_after=stale_sending_after(settings))
    # A retry waiting for its backoff has a queued job with the same key: this enqueue is a no-op.
    pending = await approved_awaiting_delivery(idle_for=IDLE_BEFORE_SWEEP)
    for email_id, attempts in pending:
        await enqueue_delivery(email_id, attempts=attempts)
    return {"failed_unknown": len(failed), "requeued": len(pending)}
