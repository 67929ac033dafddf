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

import msgspec
import pytest

from app.core.config import Environment, Settings
from app.engine.actions.base import StepContext
from app.webhooks.signing import DELIVERY_HEADER, signature_headers
from tests.conftest import TenantCtx, listening_socket, socket_port
from tests.operations.helpers import json_log  # noqa: F401 - the JSON log buffer fixture
from tests.webhooks.receiver import Receiver

# Bound now and listening, so the allowlisted port stays ours for the whole run.
_SESSION_SOCKET = listening_socket()
SESSION_RECEIVER_PORT = socket_port(_SESSION_SOCKET)
os.environ["WEBHOOK_ALLOWLIST"] = f"127.0.0.1:{SESSION_RECEIVER_PORT}"

TEST_SECRET_KEY = "webhook-tests-secret-key-0123456789"


_SESSION_RECEIVER: list[Receiver] = []


@pytest.fixture(scope="session")
async def session_receiver() -> AsyncIterator[Receiver]:
    """The receiver the running app's engine may call (its address is allowlisted).

    One server for the run even though other test packages re-export this fixture (pytest then
    holds several registrations): two servers on one socket would each see only some requests.
    """
    first = not _SESSION_RECEIVER
    if first:
        _SESSION_RECEIVER.append(await Receiver(_SESSION_SOCKET).start())
    yield _SESSION_RECEIVER[0]
    if first:
        await _SESSION_RECEIVER.pop().stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = await Receiver(listening_socket()).start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def second_receiver() -> AsyncIterator[Receiver]:
    """Another server on 127.0.0.1 that no allowlist names (a redirect target)."""
    receiver = await Receiver(listening_socket()).start()
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
