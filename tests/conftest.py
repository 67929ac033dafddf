"""Suite-wide fixtures: one migrated database per run, the real app on a real port, tenants.

Tests share one event loop (see pyproject) so the app, its worker and the tests use one pool.
Isolation is by tenant: every test gets a fresh tenant, and tenants never see each other.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

import httpx
import pytest
import uvicorn

from tests.db import create_database, drop_database, server_url

os.environ.setdefault("ENVIRONMENT", "test")
# Tests prune explicitly (tests/operations/test_retention.py); the worker's periodic retention
# sweep would race their counts.
os.environ.setdefault("PRUNE_INTERVAL_S", "86400")
# Workers the tests start serve their metrics on a port the OS picks (several at once).
os.environ.setdefault("WORKER_METRICS_PORT", "0")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database built by the real migrations, dropped at the end of the run."""
    from app.core.migrate import migrate_forwards

    base = server_url()
    url = asyncio.run(create_database(base, prefix="crmflow_test"))
    migrate_forwards(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DATA_DIR_PATH"] = str(__import__("tempfile").mkdtemp(prefix="crmflow-test-"))
    from app.core.config import get_settings

    get_settings.cache_clear()
    yield url
    asyncio.run(drop_database(url))


def free_port() -> int:
    """A port that was free a moment ago: only for a server in ANOTHER process (which takes a
    port number); a server in this process binds `listening_socket()` instead, because an
    outbound connection's ephemeral source port can take a "free" port before it is bound."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening_socket() -> socket.socket:
    """A socket on 127.0.0.1 at a port the OS picked, already listening: nothing can take the
    port between choosing it and serving on it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def socket_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
async def base_url(database_url: str) -> AsyncIterator[str]:
    """The real app served by uvicorn on 127.0.0.1, in the suite's event loop."""
    from app.server import create_app

    sock = listening_socket()
    port = socket_port(sock)
    config = uvicorn.Config(
        create_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@dataclass
class TenantCtx:
    """A fresh tenant with an admin; `http` is an authenticated client as that admin."""

    tenant_id: UUID
    admin_id: UUID
    api_key: str
    http: httpx.AsyncClient


def client_for(base_url: str, api_key: str | None = None) -> httpx.AsyncClient:
    """An HTTP client for the app, authenticated with api_key when one is given."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)


@asynccontextmanager
async def new_tenant(base_url: str, label: str) -> AsyncIterator[TenantCtx]:
    """A fresh tenant named `label …` with an admin, and a client authenticated as the admin."""
    from app.core.uow import unit_of_work
    from app.tenants.service import create_tenant

    suffix = os.urandom(4).hex()
    async with unit_of_work():
        boot = await create_tenant(
            name=f"{label} {suffix}", admin_email=f"admin@{label.lower()}{suffix}.test"
        )
    async with client_for(base_url, boot.api_key) as http:
        yield TenantCtx(
            tenant_id=boot.tenant_id, admin_id=boot.admin_user_id, api_key=boot.api_key, http=http
        )


@pytest.fixture
async def tenant(base_url: str) -> AsyncIterator[TenantCtx]:
    async with new_tenant(base_url, "Tenant") as ctx:
        yield ctx


@pytest.fixture
async def anon(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client without credentials."""
    async with client_for(base_url) as http:
        yield http


@pytest.fixture
async def member(tenant: TenantCtx, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client authenticated as a member (not admin) of `tenant`, with its own key."""
    from tests.helpers import add_member_key

    async with client_for(base_url, await add_member_key(tenant)) as http:
        yield http


@pytest.fixture
async def other(base_url: str) -> AsyncIterator[TenantCtx]:
    """A second, unrelated tenant."""
    async with new_tenant(base_url, "Other") as ctx:
        yield ctx


@pytest.fixture
def other_tenant(other: TenantCtx) -> TenantCtx:
    """The same second tenant, under the name the workflow tests use."""
    return other
