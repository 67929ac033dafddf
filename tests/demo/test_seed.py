"""The demo seed: everything the demo promises is there, and a second run adds nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from app.core.config import PROJECT_ROOT
from app.core.migrate import migrate_forwards
from app.demo.seed import DEMO_SLUG, seed
from tables.enums import ClientStatus, ExecutionStatus
from tests.db import create_database, drop_database, server_url

# Rows of the demo tenant, table by table (through the parent where there is no tenant column).
COUNTS = {
    "tenants": "SELECT count(*) FROM tenants WHERE id = $1",
    "users": "SELECT count(*) FROM users WHERE tenant = $1",
    "api_keys": "SELECT count(*) FROM api_keys k JOIN users u ON u.id = k.user WHERE u.tenant = $1",
    "clients": "SELECT count(*) FROM clients WHERE tenant = $1",
    "documents": "SELECT count(*) FROM documents d JOIN clients c ON c.id = d.client "
    "WHERE c.tenant = $1",
    "notes": "SELECT count(*) FROM notes n JOIN clients c ON c.id = n.client WHERE c.tenant = $1",
    "tasks": "SELECT count(*) FROM tasks WHERE tenant = $1",
    "emails": "SELECT count(*) FROM emails WHERE tenant = $1",
    "events": "SELECT count(*) FROM events WHERE tenant = $1",
    "workflows": "SELECT count(*) FROM workflows WHERE tenant = $1",
    "workflow_executions": "SELECT count(*) FROM workflow_executions WHERE tenant = $1",
    "workflow_execution_logs": "SELECT count(*) FROM workflow_execution_logs l "
    "JOIN workflow_executions e ON e.id = l.execution "
    "WHERE e.tenant = $1",
}


async def _counts(conn: Any, tenant_id: UUID) -> dict[str, int]:
    return {table: await conn.fetchval(sql, tenant_id) for table, sql in COUNTS.items()}


async def test_seed_twice_adds_nothing_the_second_time(database_url: str) -> None:
    lines: list[str] = []
    first = await seed(echo=lines.append)
    conn = await asyncpg.connect(database_url)
    try:
        tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE slug = $1", DEMO_SLUG)
        assert tenant_id == first.tenant_id
        before = await _counts(conn, tenant_id)
        second = await seed(echo=lines.append)
        after = await _counts(conn, tenant_id)

        assert second.tenant_created is False
        assert second.api_key is None
        assert second.total_added == 0
        assert after == before
        assert all(n > 0 for n in after.values()), after
        assert after["workflows"] == 3

        statuses = {
            r["status"]
            for r in await conn.fetch(
                "SELECT DISTINCT status FROM clients WHERE tenant = $1", tenant_id
            )
        }
        assert statuses == {s.value for s in ClientStatus}

        executions = {
            r["status"]: r["id"]
            for r in await conn.fetch(
                "SELECT status, id FROM workflow_executions WHERE tenant = $1", tenant_id
            )
        }
        wanted = {
            ExecutionStatus.COMPLETED.value,
            ExecutionStatus.RUNNING.value,
            ExecutionStatus.FAILED.value,
        }
        assert wanted <= set(executions)
        for status in wanted:
            logs = await conn.fetchval(
                "SELECT count(*) FROM workflow_execution_logs WHERE execution = $1",
                executions[status],
            )
            assert logs >= 1, status

        workflows = {
            r["trigger_type"]: r
            for r in await conn.fetch(
                "SELECT trigger_type, trigger_config::text AS tc, conditions::text AS cond, "
                "actions::text AS actions, is_active FROM workflows WHERE tenant = $1",
                tenant_id,
            )
        }
        assert set(workflows) == {"CLIENT_CREATED", "CLIENT_STATUS_CHANGED", "DOCUMENT_UPLOADED"}
        assert '"to": "ACTIVE"' in workflows["CLIENT_STATUS_CHANGED"]["tc"]
        assert '"value": "vip"' in workflows["CLIENT_STATUS_CHANGED"]["cond"]
        assert '"content_type": "application/pdf"' in workflows["DOCUMENT_UPLOADED"]["tc"]
        assert '"SEND_EMAIL"' in workflows["CLIENT_CREATED"]["actions"]
        assert all(w["is_active"] for w in workflows.values())

        # Seeded events are history: already dispatched, the worker leaves them alone.
        undispatched = await conn.fetchval(
            "SELECT count(*) FROM events WHERE tenant = $1 AND dispatched_at IS NULL", tenant_id
        )
        assert undispatched == 0
    finally:
        await conn.close()

    if first.tenant_created:
        assert first.api_key is not None
        assert any(first.api_key in line for line in lines)
    assert sum(first.api_key is not None and first.api_key in line for line in lines) <= 1
    assert lines[-1].endswith("nothing added.")


@pytest.fixture
def fresh_url(database_url: str) -> Iterator[str]:
    url = asyncio.run(create_database(server_url(), prefix="crmflow_seed"))
    migrate_forwards(url)
    yield url
    asyncio.run(drop_database(url))


async def _run_script(url: str) -> tuple[int, str]:
    env = {**os.environ, "DATABASE_URL": url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROJECT_ROOT / "scripts" / "seed_demo.py"),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_seed_script_prints_the_key_once(fresh_url: str) -> None:
    code, out = await _run_script(fresh_url)
    assert code == 0, out
    key_lines = [line for line in out.splitlines() if "API key" in line]
    assert len(key_lines) == 1, out
    key = key_lines[0].rsplit(" ", 1)[1]
    conn = await asyncpg.connect(fresh_url)
    try:
        stored = await conn.fetchval("SELECT key_hash FROM api_keys")
    finally:
        await conn.close()
    assert stored == hashlib.sha256(key.encode()).hexdigest()

    code, out = await _run_script(fresh_url)
    assert code == 0, out
    assert "API key" not in out
    assert "nothing added" in out
