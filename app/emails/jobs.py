"""Email jobs: `emails.deliver` (one attempt, re-enqueued for a retry) and `emails.sweep`.

The job key carries the attempt number, so the sweep and a scheduled retry of the same attempt
collapse into one job, while the next attempt can be queued from inside the running one.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import structlog

from app.core import metrics
from app.core.config import Settings, get_settings
from app.core.logging import bind_log_context
from app.emails.delivery import (
    DEFAULT_POLICY,
    Outcome,
    approved_awaiting_delivery,
    deliver_email,
    reconcile_stuck_sending,
    sending_since,
)
from app.engine.locks import LOCKS
from app.worker.enqueue import enqueue_all_past_dead, enqueue_past_dead, get_queue, job_name
from app.worker.queue import is_queue_unavailable, queue_lost

log = structlog.get_logger("crmflow.emails")

# An APPROVED email untouched this long has lost its job (crash, queue down): enqueue it again.
# (Its worker may have died before touching the row: the sweep steps past such a dead job.)
IDLE_BEFORE_SWEEP = timedelta(seconds=5)
# A SENDING email this old whose advisory lock is free has no live worker: its state is unknown.
ORPHANED_SENDING_AFTER = timedelta(seconds=10)


def job_timeout_s(settings: Settings) -> int:
    # Connect, MAIL, RCPT, DATA and QUIT each get the SMTP timeout; plus slack.
    return int(settings.smtp_timeout_s * 6 + 10)


def stale_sending_after(settings: Settings) -> timedelta:
    """A SENDING email older than this has no live worker: it exceeded any job timeout."""
    return timedelta(seconds=max(120, 2 * job_timeout_s(settings)))


def _job_options(email_id: UUID, attempts: int) -> dict[str, Any]:
    return {
        "key": f"emails.deliver:{email_id}:{attempts}",
        "email_id": str(email_id),
        "timeout": job_timeout_s(get_settings()),
        # One SAQ attempt: our own attempt counter and backoff live on the email row.
        "retries": 1,
    }


async def enqueue_delivery(email_id: UUID, *, attempts: int = 0, delay_s: float = 0.0) -> bool:
    """Queue the next delivery attempt; False without a queue (the sweep will do it)."""
    queue = get_queue()
    if queue is None:
        return False
    options = _job_options(email_id, attempts)
    if delay_s > 0:
        options["scheduled"] = int(time.time() + delay_s) + 1
    try:
        await queue.enqueue("emails.deliver", **options)
    except Exception as exc:
        # The email stays APPROVED: the email sweep queues it once the queue is back.
        if is_queue_unavailable(exc):
            queue_lost(exc)
        else:
            log.exception("emails.enqueue_failed", email_id=str(email_id))
        return False
    return True


async def enqueue_resend(email_id: UUID) -> bool:
    """After a person sent a FAILED email again (attempts back to 0): queue its first attempt.

    The key of attempt 0 may still belong to the email's first, finished job (Redis keeps
    finished jobs a while): step past it, as the sweep would.
    """
    return await enqueue_past_dead("emails.deliver", **_job_options(email_id, 0))


@job_name("emails.deliver")
async def deliver_job(ctx: dict[str, Any], *, email_id: str) -> dict[str, Any]:
    """One delivery attempt; a retryable failure queues the next attempt after its backoff."""
    bind_log_context(email_id=email_id)
    # Held while this worker works on the email: the sweep takes a free one as orphaned.
    locked = await LOCKS.acquire([UUID(email_id)])
    if not locked:
        return {"email_id": email_id, "outcome": Outcome.SKIPPED.value, "detail": "in progress"}
    try:
        result = await deliver_email(
            email_id=UUID(email_id), settings=get_settings(), policy=DEFAULT_POLICY
        )
    finally:
        await LOCKS.release(locked)
    if result.outcome is not Outcome.SKIPPED:
        metrics.EMAILS.labels(result.outcome.value.lower()).inc()
    if result.outcome is Outcome.RETRY and result.retry_in_s is not None:
        await enqueue_delivery(result.email_id, attempts=result.attempts, delay_s=result.retry_in_s)
    return {"email_id": email_id, "outcome": result.outcome.value, "detail": result.detail}


async def email_sweep() -> dict[str, Any]:
    """Fail SENDING emails whose worker died (never resend); re-enqueue lost APPROVED ones."""
    settings = get_settings()
    orphaned = await LOCKS.free(await sending_since(older_than=ORPHANED_SENDING_AFTER))
    failed = await reconcile_stuck_sending(stale_after=ORPHANED_SENDING_AFTER, only=orphaned)
    # Backstop for a worker alive but stuck past any job timeout.
    failed += await reconcile_stuck_sending(stale_after=stale_sending_after(settings))
    pending = dict(await approved_awaiting_delivery(idle_for=IDLE_BEFORE_SWEEP))
    # A retry waiting for its backoff has a queued job with the same key: that one is kept.
    requeued = await enqueue_all_past_dead(
        "emails.deliver", (_job_options(i, pending[i]) for i in await LOCKS.free(pending))
    )
    return {"failed_unknown": len(failed), "requeued": requeued}
