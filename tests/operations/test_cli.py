"""`crmflow create-key` (the lost-key path) and `crmflow status`."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess

from app.core.config import PROJECT_ROOT
from app.core.sql import fetchval
from tests.conftest import TenantCtx, client_for
from tests.db import create_database, drop_database, server_url
from tests.helpers import cli


async def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cli, *args, env={"DATABASE_URL": database_url})


async def test_create_key_issues_a_working_key_for_an_existing_user(
    tenant: TenantCtx, database_url: str, base_url: str
) -> None:
    email = await fetchval("SELECT email FROM users WHERE id = $1", tenant.admin_id)
    done = await _cli(database_url, "create-key", "--email", email.upper())
    assert done.returncode == 0, done.stderr
    key = next(
        line.split("=", 1)[1] for line in done.stdout.splitlines() if line.startswith("api_key=")
    )
    assert key != tenant.api_key
    async with client_for(base_url, key) as http:
        me = await http.get("/api/v1/clients")
    assert me.status_code == 200
    audit = await fetchval(
        "SELECT count(*) FROM audit_logs WHERE tenant = $1 AND resource_type = 'api_key'",
        tenant.tenant_id,
    )
    assert audit >= 1

    unknown = await _cli(database_url, "create-key", "--email", "nobody@nowhere.test")
    assert unknown.returncode == 1
    assert "No active user" in unknown.stderr


async def test_status_reports_database_migrations_queue_and_workers(
    database_url: str, base_url: str
) -> None:
    from app.worker.queue import build_queue

    # What every SAQ worker writes every 10 s, written here on the very queue the CLI reads (the
    # service's database, default name): the session's API runtime may be working another backend
    # at this point (the engine tests switch it to Redis), so it cannot stand in for a worker.
    queue = build_queue(database_url)
    await queue.connect()
    worker_id = f"status-test-{os.getpid()}"
    try:
        await queue.worker_info(worker_id, queue_key=queue.name, ttl=60)
    finally:
        await queue.disconnect()
    done = await _cli(database_url, "status")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "database: " in out
    assert "migrations: " in out
    assert "none pending" in out
    # The queue's depth, its oldest job's age, and what runs (the numbers move: others work it).
    assert re.search(
        r"queue: postgres 'crmflow' — \d+ waiting \(oldest \d+\.\d s\), \d+ running, "
        r"\d+ scheduled",
        out,
    ), out
    assert f"worker: {worker_id}" in out


async def test_status_names_pending_migrations_and_fails() -> None:
    """On a database no migration ran on: every migration pending, exit 1."""
    url = await create_database(server_url(), prefix="crmflow_status")
    try:
        done = await _cli(url, "status")
    finally:
        await drop_database(url)
    assert done.returncode == 1, done.stdout + done.stderr
    first = sorted(p.stem for p in (PROJECT_ROOT / "piccolo_migrations").glob("crmflow_*.py"))[0]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("migrations: ")]
    assert line.startswith("migrations: 0 applied, pending: "), line
    assert first.removeprefix("crmflow_")[:10].replace("_", "-") in line, line
