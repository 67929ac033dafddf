"""Email test fixtures: real SMTP servers on 127.0.0.1, emails made the way a workflow makes them.

The API process delivers with the process settings, read once at the start of the run, so the
suite-wide SMTP sink's port is put in SMTP_PORT when this file is imported (before any test
reads settings). Tests of the delivery functions pass their own Settings instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest

from app.core.config import EmailMode, Environment, Settings
from tests.conftest import TenantCtx, free_port
from tests.emails.smtp_sink import SmtpSink

os.environ.setdefault("SMTP_PORT", str(free_port()))
SESSION_SMTP_PORT = int(os.environ["SMTP_PORT"])


@pytest.fixture(scope="session")
def session_sink() -> Iterator[SmtpSink]:
    """The SMTP server the running app (and its worker) delivers to."""
    sink = SmtpSink(SESSION_SMTP_PORT).start()
    yield sink
    sink.stop()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A private SMTP server for one test."""
    sink = SmtpSink(free_port()).start()
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


@pytest.fixture
async def member(tenant: TenantCtx, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A member (not admin) of `tenant`, with its own key."""
    suffix = os.urandom(3).hex()
    user = await tenant.http.post(
        "/api/v1/users", json={"email": f"member-{suffix}@example.test", "role": "member"}
    )
    assert user.status_code == 201, user.text
    key = await tenant.http.post(
        "/api/v1/api-keys", json={"name": "member key", "user_id": user.json()["id"]}
    )
    assert key.status_code == 201, key.text
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key.json()['key']}"}, timeout=30
    ) as http:
        yield http


@pytest.fixture
async def other(base_url: str) -> AsyncIterator[TenantCtx]:
    """A second, unrelated tenant."""
    from app.core.uow import unit_of_work
    from app.tenants.service import create_tenant

    suffix = os.urandom(4).hex()
    async with unit_of_work():
        boot = await create_tenant(name=f"Other {suffix}", admin_email=f"admin@o{suffix}.test")
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {boot.api_key}"}, timeout=30
    ) as http:
        yield TenantCtx(
            tenant_id=boot.tenant_id, admin_id=boot.admin_user_id, api_key=boot.api_key, http=http
        )
