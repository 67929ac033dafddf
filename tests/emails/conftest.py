"""Email test fixtures: real SMTP servers on 127.0.0.1, emails made the way a workflow makes them.

The API process delivers with the process settings, read once at the start of the run, so the
suite-wide SMTP sink's port is put in SMTP_PORT when this file is imported (before any test
reads settings). Tests of the delivery functions pass their own Settings instead.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import pytest

from app.core.config import EmailMode, Environment, Settings
from tests.conftest import TenantCtx, listening_socket, socket_port
from tests.emails.smtp_sink import SmtpSink

# Bound now and listening (connections wait in its backlog until the sink starts), so the port in
# SMTP_PORT stays ours for the whole run.
_SESSION_SOCKET = listening_socket()
os.environ["SMTP_PORT"] = str(socket_port(_SESSION_SOCKET))
SESSION_SMTP_PORT = socket_port(_SESSION_SOCKET)


_SESSION_SINK: list[SmtpSink] = []


@pytest.fixture(scope="session")
def session_sink() -> Iterator[SmtpSink]:
    """The SMTP server the running app (and its worker) delivers to.

    One server for the run even though tests/dashboard re-exports this fixture (pytest then
    holds two registrations): two servers on one socket would each see only some deliveries.
    """
    first = not _SESSION_SINK
    if first:
        _SESSION_SINK.append(SmtpSink(_SESSION_SOCKET).start())
    yield _SESSION_SINK[0]
    if first:
        _SESSION_SINK.pop().stop()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A private SMTP server for one test."""
    sink = SmtpSink(listening_socket()).start()
    yield sink
    sink.stop()


def smtp_settings(port: int, **overrides: Any) -> Settings:
    """Settings for delivering to a test server (delivery functions take them explicitly)."""
    base: dict[str, Any] = {
        "environment": Environment.TEST,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_timeout_s": 5.0,
        "email_from": "robot@crmflow.test",
    }
    base.update(overrides)
    return Settings(**base)


def send_mode_settings(allowlist: list[str], port: int = 25) -> Settings:
    return smtp_settings(
        port,
        environment=Environment.PRODUCTION,
        email_mode=EmailMode.SEND,
        email_allowlist=allowlist,
        secret_key="a-test-secret-key-of-enough-length",
    )


def unique_address(tag: str = "lead") -> str:
    return f"{tag}-{os.urandom(4).hex()}@customer.test"


async def make_email(
    tenant: TenantCtx,
    *,
    to: str | None = None,
    subject: str = "Welcome aboard",
    body: str = "Hello from crmflow.",
    client_id: UUID | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """An email as a SEND_EMAIL step stores it (DRAFT_ONLY unless settings say otherwise)."""
    from app.core.uow import unit_of_work
    from app.emails.service import create_workflow_email

    async with unit_of_work():
        result = await create_workflow_email(
            tenant_id=tenant.tenant_id,
            client_id=client_id,
            execution_id=None,
            to=to or unique_address(),
            subject=subject,
            body=body,
            settings=settings or smtp_settings(25),
        )
    return result


async def approved_without_job(tenant: TenantCtx, to: str) -> UUID:
    """APPROVED in the database but never handed to the queue (as after a lost enqueue): only
    what the test runs (or the sweep) delivers it."""
    from app.core.sql import fetch
    from app.core.uow import unit_of_work

    email = await make_email(tenant, to=to)
    async with unit_of_work():
        await fetch("UPDATE emails SET status = 'APPROVED' WHERE id = $1::uuid", email["email_id"])
    return UUID(email["email_id"])


@asynccontextmanager
async def kept_from_sweep(email_id: UUID) -> AsyncIterator[None]:
    """Hold the email's advisory lock in this process (the API's worker), as a live worker would:
    the sweep leaves it alone, so only the test's own delivery attempts touch it."""
    from app.engine.locks import LOCKS

    held = await LOCKS.acquire([email_id])
    assert held == [email_id]
    try:
        yield
    finally:
        await LOCKS.release(held)


@asynccontextmanager
async def approved_and_kept(tenant: TenantCtx) -> AsyncIterator[tuple[str, UUID]]:
    """(address, id) of an APPROVED email without a job, kept from the sweep inside the block:
    only the test's own delivery attempts touch it."""
    to = unique_address()
    email_id = await approved_without_job(tenant, to)
    async with kept_from_sweep(email_id):
        yield to, email_id


async def killed_mid_delivery(child: subprocess.Popen[bytes]) -> None:
    """Wait for a delivering child process that the SMTP sink's hook SIGKILLs mid-session."""
    try:
        returncode = await asyncio.to_thread(child.wait, 60)
    finally:
        if child.poll() is None:
            child.kill()
    assert returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
