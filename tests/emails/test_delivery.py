"""SMTP delivery against real servers: retries, permanent failures, no double send after a crash."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

from app.core.config import PROJECT_ROOT
from app.core.sql import fetchrow
from app.emails.delivery import (
    DeliveryPolicy,
    Outcome,
    approved_awaiting_delivery,
    deliver_email,
    reconcile_stuck_sending,
)
from app.emails.jobs import deliver_job
from app.worker.enqueue import get_queue
from tests.conftest import TenantCtx, free_port
from tests.emails.conftest import (
    approved_and_kept,
    approved_without_job,
    killed_mid_delivery,
    make_email,
    smtp_settings,
    unique_address,
)
from tests.emails.smtp_sink import SmtpSink

FAST = DeliveryPolicy(max_attempts=3, backoff_s=0.0, max_backoff_s=0.0)


async def _approved_email(tenant: TenantCtx, to: str) -> UUID:
    email = await make_email(tenant, to=to)
    response = await tenant.http.post(f"/api/v1/emails/{email['email_id']}/approve")
    assert response.status_code == 200
    return UUID(email["email_id"])


async def _row(email_id: UUID) -> dict[str, Any]:
    row = await fetchrow("SELECT * FROM emails WHERE id = $1", email_id)
    assert row is not None
    return dict(row)


async def test_temporary_failures_are_retried_then_the_email_fails(
    tenant: TenantCtx, sink: SmtpSink
) -> None:
    to = unique_address()
    sink.handler.data_replies[to] = ["451 4.3.0 Mailbox busy, try later"] * 10
    email_id = await approved_without_job(tenant, to)
    settings = smtp_settings(sink.port)

    outcomes = [await deliver_email(email_id=email_id, settings=settings, policy=FAST)]
    while outcomes[-1].outcome is Outcome.RETRY:
        outcomes.append(await deliver_email(email_id=email_id, settings=settings, policy=FAST))

    assert [o.outcome for o in outcomes] == [Outcome.RETRY, Outcome.RETRY, Outcome.FAILED]
    row = await _row(email_id)
    assert row["status"] == "FAILED"
    assert row["attempts"] == 3
    assert "451" in row["error"]
    assert "Mailbox busy" in row["error"]
    assert sink.handler.to(to) == []
    # A FAILED email is never picked up again.
    assert (await deliver_email(email_id=email_id, settings=settings)).outcome is Outcome.SKIPPED


async def test_a_retry_after_a_temporary_failure_delivers_once(
    tenant: TenantCtx, sink: SmtpSink
) -> None:
    to = unique_address()
    sink.handler.data_replies[to] = ["421 4.7.0 Too many connections"]
    email_id = await approved_without_job(tenant, to)
    settings = smtp_settings(sink.port)
    first = await deliver_email(email_id=email_id, settings=settings, policy=FAST)
    assert first.outcome is Outcome.RETRY
    assert (await _row(email_id))["status"] == "APPROVED"
    second = await deliver_email(email_id=email_id, settings=settings, policy=FAST)
    assert second.outcome is Outcome.SENT
    row = await _row(email_id)
    assert row["status"] == "SENT"
    assert row["attempts"] == 2
    received = sink.handler.to(to)
    assert len(received) == 1
    assert received[0].message_id == row["message_id"]


async def test_a_permanent_refusal_fails_at_once(tenant: TenantCtx, sink: SmtpSink) -> None:
    to = unique_address()
    sink.handler.data_replies[to] = ["550 5.1.1 No such user"]
    email_id = await approved_without_job(tenant, to)
    result = await deliver_email(email_id=email_id, settings=smtp_settings(sink.port), policy=FAST)
    assert result.outcome is Outcome.FAILED
    row = await _row(email_id)
    assert row["status"] == "FAILED"
    assert row["attempts"] == 1
    assert "550" in row["error"]


async def test_an_unreachable_server_is_retried(tenant: TenantCtx) -> None:
    email_id = await approved_without_job(tenant, unique_address())
    closed_port = free_port()
    result = await deliver_email(
        email_id=email_id, settings=smtp_settings(closed_port), policy=FAST
    )
    assert result.outcome is Outcome.RETRY
    row = await _row(email_id)
    assert row["status"] == "APPROVED"
    assert "attempt 1 of 3" in row["error"]


async def test_the_job_retries_through_the_queue_with_backoff(
    tenant: TenantCtx, session_sink: SmtpSink
) -> None:
    """The worker's own job: attempt 1 gets a 451, attempt 2 is queued for later and succeeds."""
    to = unique_address()
    session_sink.handler.data_replies[to] = ["451 4.3.0 Greylisted, come back later"]
    email_id = await approved_without_job(tenant, to)
    before = time.time()
    outcome = await deliver_job({}, email_id=str(email_id))
    assert outcome["outcome"] == "RETRY"
    queue = get_queue()
    assert queue is not None
    job = await queue.job(f"emails.deliver:{email_id}:1")
    assert job is not None
    assert job.scheduled >= before + 1
    for _ in range(400):
        if (await _row(email_id))["status"] == "SENT":
            break
        await asyncio.sleep(0.05)
    row = await _row(email_id)
    assert row["status"] == "SENT"
    assert row["attempts"] == 2
    assert len(session_sink.handler.to(to)) == 1


_CHILD = """
import asyncio, sys, uuid
from app.core.config import load_settings
from app.core.uow import get_engine
from app.emails.delivery import deliver_email

async def main() -> None:
    engine = get_engine()
    await engine.start_connection_pool(min_size=1, max_size=2)
    print("delivering", flush=True)
    await deliver_email(email_id=uuid.UUID(sys.argv[1]), settings=load_settings())
    print("recorded", flush=True)

asyncio.run(main())
"""


async def test_no_second_send_after_a_crash_between_accept_and_record(
    tenant: TenantCtx, sink: SmtpSink
) -> None:
    # The API's own worker must not sweep it meanwhile: only this test decides its fate.
    async with approved_and_kept(tenant) as (to, email_id):
        env = {
            **os.environ,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "EMAIL_FROM": "robot@crmflow.test",
        }
        # A plain Popen: the SMTP server thread must be able to kill the child and reap it.
        child = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-c", _CHILD, str(email_id)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

        def die_right_after_data(envelope: Any) -> None:
            # The server has the whole message; the worker dies before it hears "250" or records.
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)

        sink.handler.on_data = die_right_after_data
        await killed_mid_delivery(child)
        sink.handler.on_data = None

        # The attempt was recorded before the message left: SENDING, with its Message-ID.
        row = await _row(email_id)
        assert row["status"] == "SENDING"
        assert row["attempts"] == 1
        assert row["message_id"]
        assert len(sink.handler.to(to)) == 1

        # Nothing resends it: not a delivery run, not the sweep for lost APPROVED emails.
        settings = smtp_settings(sink.port)
        assert (
            await deliver_email(email_id=email_id, settings=settings)
        ).outcome is Outcome.SKIPPED
        assert email_id not in [
            e for e, _ in await approved_awaiting_delivery(idle_for=timedelta(0))
        ]

        # The reconcile sweep ends it as FAILED, naming the Message-ID to look for.
        failed = await reconcile_stuck_sending(stale_after=timedelta(0))
        assert email_id in failed
        row = await _row(email_id)
        assert row["status"] == "FAILED"
        assert "delivery state unknown after crash" in row["error"]
        assert row["message_id"] in row["error"]
        assert sink.handler.to(to)[0].message_id == row["message_id"]

        assert (
            await deliver_email(email_id=email_id, settings=settings)
        ).outcome is Outcome.SKIPPED
        await asyncio.sleep(0.2)
        assert len(sink.handler.to(to)) == 1


async def test_a_fresh_sending_email_is_left_to_its_worker(tenant: TenantCtx) -> None:
    """The sweep only touches SENDING rows older than the longest possible attempt."""
    from app.core.sql import fetch
    from app.core.uow import unit_of_work

    email_id = await approved_without_job(tenant, unique_address())
    async with unit_of_work():
        await fetch(
            "UPDATE emails SET status = 'SENDING', send_started_at = now() WHERE id = $1",
            email_id,
        )
    assert email_id not in await reconcile_stuck_sending(stale_after=timedelta(minutes=2))
    assert (await _row(email_id))["status"] == "SENDING"


async def test_send_mode_queues_an_allowlisted_workflow_email(
    tenant: TenantCtx, session_sink: SmtpSink
) -> None:
    """SEND mode: the step's email is APPROVED and the worker delivers it, no person involved."""
    from tests.emails.conftest import send_mode_settings

    to = f"buyer-{os.urandom(3).hex()}@ourcompany.test"
    result = await make_email(tenant, to=to, settings=send_mode_settings(["*@ourcompany.test"]))
    assert result["status"] == "APPROVED"
    email_id = UUID(result["email_id"])
    for _ in range(300):
        if (await _row(email_id))["status"] == "SENT":
            break
        await asyncio.sleep(0.05)
    assert (await _row(email_id))["status"] == "SENT"
    assert len(session_sink.handler.to(to)) == 1


async def test_concurrent_delivery_runs_send_once(tenant: TenantCtx, sink: SmtpSink) -> None:
    """Two workers racing on one email (a duplicate job): one claims and sends, one skips."""
    to = unique_address()
    email_id = await approved_without_job(tenant, to)
    settings = smtp_settings(sink.port)
    results = await asyncio.gather(
        *(deliver_email(email_id=email_id, settings=settings) for _ in range(4))
    )
    assert sorted(r.outcome.value for r in results) == ["SENT", "SKIPPED", "SKIPPED", "SKIPPED"]
    assert len(sink.handler.to(to)) == 1
    assert (await _row(email_id))["attempts"] == 1
