"""A worker killed before the server can have the message is retried: the email is sent once.

The SENDING commit happens only once the server answered DATA with 354, just before the message
text, so a crash while connecting, at MAIL FROM, at RCPT TO or at the DATA command itself leaves
the email APPROVED for the next worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from app.core.config import PROJECT_ROOT
from app.core.sql import fetchrow
from app.emails.delivery import Outcome, deliver_email
from tests.conftest import TenantCtx
from tests.emails.conftest import (
    approved_and_kept,
    killed_mid_delivery,
    make_email,
    smtp_settings,
    unique_address,
)
from tests.emails.smtp_sink import SmtpSink
from tests.engine.conftest import Backend, backend
from tests.engine.helpers import wait_for
from tests.engine.test_crash import api_worker_paused, worker_process

__all__ = ["api_worker_paused", "backend"]

_CHILD = """
import asyncio, sys, uuid
from app.core.config import load_settings
from app.core.uow import get_engine
from app.emails.delivery import deliver_email

async def main() -> None:
    engine = get_engine()
    await engine.start_connection_pool(min_size=1, max_size=2)
    await deliver_email(email_id=uuid.UUID(sys.argv[1]), settings=load_settings())

asyncio.run(main())
"""


def _smtp_env(sink: SmtpSink) -> dict[str, str]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.port),
        "EMAIL_FROM": "robot@crmflow.test",
    }


async def _row(email_id: UUID) -> dict[str, Any]:
    row = await fetchrow("SELECT * FROM emails WHERE id = $1", email_id)
    assert row is not None
    return dict(row)


def _kill_at_first_rcpt(sink: SmtpSink, pid: Any) -> None:
    """SIGKILL the process pid() names when its RCPT TO arrives, before the server answers."""
    fired: list[bool] = []

    def kill(address: str) -> None:
        if not fired:
            fired.append(True)
            os.kill(pid(), signal.SIGKILL)

    sink.handler.on_rcpt = kill


async def test_a_crash_at_rcpt_leaves_the_email_approved_and_the_retry_sends_it_once(
    tenant: TenantCtx, sink: SmtpSink
) -> None:
    async with approved_and_kept(tenant) as (to, email_id):
        # A plain Popen: the SMTP server thread must be able to kill the child.
        child = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-c", _CHILD, str(email_id)],
            cwd=PROJECT_ROOT,
            env={**os.environ, **_smtp_env(sink)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _kill_at_first_rcpt(sink, lambda: child.pid)
        await killed_mid_delivery(child)

        row = await _row(email_id)
        assert (row["status"], row["attempts"]) == ("APPROVED", 0)
        assert sink.handler.to(to) == []

        result = await deliver_email(email_id=email_id, settings=smtp_settings(sink.port))
        assert result.outcome is Outcome.SENT
        [received] = sink.handler.to(to)
        row = await _row(email_id)
        assert (row["status"], row["attempts"]) == ("SENT", 1)
        assert received.message_id == row["message_id"]


def _kill_at_data_command(sink: SmtpSink, pid: Any) -> None:
    """SIGKILL the process pid() names when its DATA command arrives, before the server's 354."""
    fired: list[bool] = []

    def kill(recipients: list[str]) -> None:
        if not fired:
            fired.append(True)
            os.kill(pid(), signal.SIGKILL)

    sink.handler.on_data_command = kill


async def test_a_crash_at_the_data_command_leaves_the_email_approved_and_it_is_sent_once(
    tenant: TenantCtx, sink: SmtpSink
) -> None:
    async with approved_and_kept(tenant) as (to, email_id):
        child = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-c", _CHILD, str(email_id)],
            cwd=PROJECT_ROOT,
            env={**os.environ, **_smtp_env(sink)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _kill_at_data_command(sink, lambda: child.pid)
        await killed_mid_delivery(child)

        row = await _row(email_id)
        assert (row["status"], row["attempts"]) == ("APPROVED", 0)
        assert sink.handler.to(to) == []

        result = await deliver_email(email_id=email_id, settings=smtp_settings(sink.port))
        assert result.outcome is Outcome.SENT
        [received] = sink.handler.to(to)
        row = await _row(email_id)
        assert (row["status"], row["attempts"]) == ("SENT", 1)
        assert received.message_id == row["message_id"]


async def test_a_worker_killed_before_data_is_replaced_and_the_email_arrives_once(
    backend: Backend,
    tenant: TenantCtx,
    database_url: str,
    api_worker_paused: None,
    sink: SmtpSink,
    tmp_path: Path,
) -> None:
    """End to end: `crmflow worker` SIGKILLed mid-envelope; the next worker's sweep resends."""
    to = unique_address()
    email = await make_email(tenant, to=to)
    email_id = UUID(email["email_id"])
    log = tmp_path / "worker.log"
    with worker_process(backend, database_url, log, extra_env=_smtp_env(sink)) as first:
        _kill_at_first_rcpt(sink, lambda: first.pid)
        response = await tenant.http.post(f"/api/v1/emails/{email_id}/approve")
        assert response.status_code == 200
        assert await asyncio.to_thread(first.wait, 60) == -signal.SIGKILL
    assert (await _row(email_id))["status"] == "APPROVED"

    with worker_process(backend, database_url, log, extra_env=_smtp_env(sink)):
        row = await wait_for(
            lambda: _row(email_id),
            until=lambda r: r["status"] not in ("APPROVED", "SENDING"),
            what="the email to be delivered",
        )
        # Give any duplicate attempt the time to show up before counting.
        await asyncio.sleep(1)
    assert row["status"] == "SENT", log.read_text()[-3000:]
    assert row["attempts"] == 1
    assert len(sink.handler.to(to)) == 1
