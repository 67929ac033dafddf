"""Webhook fixtures: real HTTP receivers on 127.0.0.1, step contexts, signed inbound requests.

The engine runs WEBHOOK steps with the process settings (read once per run), so the suite-wide
receiver's exact address is put in WEBHOOK_ALLOWLIST when this file is imported. Tests of the
action itself pass their own Settings.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import msgspec
import pytest

from app.core.config import Environment, Settings
from app.engine.actions.base import StepContext
from app.webhooks.signing import DELIVERY_HEADER, signature_headers
from tests.conftest import TenantCtx, free_port
from tests.webhooks.receiver import Receiver

if "WEBHOOK_ALLOWLIST" not in os.environ:
    os.environ["WEBHOOK_ALLOWLIST"] = f"127.0.0.1:{free_port()}"
SESSION_RECEIVER_PORT = int(os.environ["WEBHOOK_ALLOWLIST"].split(",")[0].rsplit(":", 1)[1])

TEST_SECRET_KEY = "webhook-tests-secret-key-0123456789"


@pytest.fixture(scope="session")
async def session_receiver() -> AsyncIterator[Receiver]:
    """The receiver the running app's engine may call (its address is allowlisted)."""
    receiver = await Receiver(SESSION_RECEIVER_PORT).start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = await Receiver(free_port()).start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def second_receiver() -> AsyncIterator[Receiver]:
    """Another server on 127.0.0.1 that no allowlist names (a redirect target)."""
    receiver = await Receiver(free_port()).start()
    yield receiver
    await receiver.stop()


def outbound_settings(*allow: str) -> Settings:
    return Settings(
        environment=Environment.TEST,
        webhook_allowlist=list(allow),
        secret_key=TEST_SECRET_KEY,
        webhook_timeout_s=10.0,
    )


def step_context(**variables: Any) -> StepContext:
    return StepContext(
        tenant_id=uuid4(),
        execution_id=uuid4(),
        workflow_id=uuid4(),
        client_id=None,
        event_id=uuid4(),
        step_index=2,
        attempt=1,
        depth=0,
        variables={
            "client": {"name": "Ada", "email": "ada@example.test"},
            "event": {"id": "e1", "type": "deal.won", "payload": {"amount": 42}},
            "workflow": {"id": "w1", "name": "Notify", "version": 1},
            **variables,
        },
    )


@pytest.fixture
async def source(tenant: TenantCtx) -> dict[str, Any]:
    """An inbound source of `tenant`, with its secret and its tenant's slug."""
    name = f"crm-{os.urandom(3).hex()}"
    response = await tenant.http.post("/api/v1/webhook-sources", json={"source": name})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def signed(
    secret: str,
    body: Any,
    *,
    delivery_id: str | None = None,
    now: float | None = None,
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    headers = {
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery_id or f"dlv-{os.urandom(6).hex()}",
        **signature_headers(secret, raw, now=now),
    }
    return raw, headers


@pytest.fixture
async def other(base_url: str) -> AsyncIterator[TenantCtx]:
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
