"""API latency at scale: 1,000,000 clients in one tenant, against the raw database.

A fresh database on the embedded PostgreSQL (or BENCH_DATABASE_URL's server) is migrated and
loaded with --clients rows by one INSERT ... SELECT generate_series. The API runs as its own
process (`crmflow serve`, worker off) and the script measures, one request at a time:

- create: POST /api/v1/clients (row + CLIENT_CREATED event + audit row, one transaction);
- list page 2: GET /api/v1/clients?status=ACTIVE&tag=vip&sort=-created_at&limit=50 with the
  cursor of page 1;

and the same INSERT and the same SELECT run directly with asyncpg, for an API/raw ratio.

Usage: python scripts/bench_api.py [--clients 1000000] [--samples 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.auth import generate_api_key  # noqa: E402
from app.core.config import get_settings  # noqa: E402
from app.core.db import with_database  # noqa: E402
from app.core.embedded_pg import embedded_database_url  # noqa: E402
from app.core.migrate import migrate_forwards  # noqa: E402

LIST_PARAMS = {"status": "ACTIVE", "tag": "vip", "sort": "-created_at", "limit": "50"}

LOAD_SQL = """
INSERT INTO clients (id, tenant, owner, name, email, phone, company, status, tags,
                     custom_fields, created_at, updated_at)
SELECT gen_random_uuid(), $1, NULL, 'Client ' || i, 'client' || i || '@example.test', NULL,
       'Company ' || (i % 5000),
       (ARRAY['LEAD', 'ACTIVE', 'INACTIVE', 'CHURNED'])[1 + i % 4],
       CASE WHEN i % 10 = 1 THEN ARRAY['vip', 'east']::varchar[]
            WHEN i % 10 = 2 THEN ARRAY['east']::varchar[]
            ELSE ARRAY[]::varchar[] END,
       '{}'::jsonb,
       now() - make_interval(secs => i), now() - make_interval(secs => i)
FROM generate_series(1, $2) AS i
"""

RAW_INSERT = """
INSERT INTO clients (id, tenant, name, status, tags, custom_fields, created_at, updated_at)
VALUES ($1, $2, $3, 'LEAD', ARRAY['bench']::varchar[], '{}'::jsonb, now(), now())
"""

RAW_EVENT = """
INSERT INTO events (id, tenant, type, client, payload, depth, created_at)
VALUES ($1, $2, 'CLIENT_CREATED', $3, '{"status": "LEAD"}'::jsonb, 0, now())
"""

RAW_AUDIT = """
INSERT INTO audit_logs (id, tenant, action, resource_type, resource_id, changes, created_at)
VALUES ($1, $2, 'create', 'client', $3, '{}'::jsonb, now())
"""

RAW_PAGE = """
SELECT c.id, c.owner, c.name, c.email, c.phone, c.company, c.status, c.tags, c.custom_fields,
       c.created_at, c.updated_at
FROM clients c
WHERE c.tenant = $1 AND c.status = $2 AND c.tags @> $3::varchar[]
  AND (c.created_at, c.id) < ($4, $5)
ORDER BY c.created_at DESC, c.id DESC LIMIT 51
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50, p99


async def timed(n: int, fn: Callable[[int], Awaitable[Any]]) -> list[float]:
    for i in range(min(20, n)):  # warm-up: connections, plans, caches
        await fn(-i - 1)
    out = []
    for i in range(n):
        start = time.perf_counter()
        await fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


async def prepare(url: str, clients: int) -> tuple[uuid.UUID, str]:
    """A tenant with an admin key and `clients` clients; returns (tenant id, api key)."""
    conn = await asyncpg.connect(url)
    try:
        tenant_id, user_id = uuid.uuid4(), uuid.uuid4()
        key = generate_api_key()
        await conn.execute(
            "INSERT INTO tenants (id, name, slug, created_at, updated_at) "
            "VALUES ($1, 'Bench', 'bench', now(), now())",
            tenant_id,
        )
        await conn.execute(
            "INSERT INTO users (id, tenant, email, name, role, is_active, created_at, updated_at)"
            " VALUES ($1, $2, 'bench@example.test', 'Bench', 'admin', true, now(), now())",
            user_id,
            tenant_id,
        )
        await conn.execute(
            'INSERT INTO api_keys (id, "user", name, prefix, key_hash, created_at) '
            "VALUES ($1, $2, 'bench', $3, $4, now())",
            uuid.uuid4(),
            user_id,
            key.prefix,
            key.key_hash,
        )
        start = time.perf_counter()
        await conn.execute(LOAD_SQL, tenant_id, clients)
        await conn.execute("ANALYZE clients")
        print(f"loaded {clients:,} clients in {time.perf_counter() - start:.1f} s")
        return tenant_id, key.plaintext
    finally:
        await conn.close()


def start_api(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PORT": str(port),
        "RUN_WORKER_IN_API": "false",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], cwd=ROOT, env=env)


async def wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError("the API exited during start-up")
            try:
                if (await http.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the API did not become healthy")


async def measure(url: str, base: str, tenant_id: uuid.UUID, key: str, samples: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:

        async def api_create(i: int) -> None:
            r = await http.post("/api/v1/clients", json={"name": f"API {i}", "tags": ["bench"]})
            assert r.status_code == 201, r.text

        first = await http.get("/api/v1/clients", params=LIST_PARAMS)
        assert first.status_code == 200, first.text
        cursor = first.json()["next_cursor"]
        last = first.json()["items"][-1]

        async def api_page(_: int) -> None:
            r = await http.get("/api/v1/clients", params={**LIST_PARAMS, "cursor": cursor})
            assert r.status_code == 200, r.text
            assert len(r.json()["items"]) == 50

        api_create_ms = await timed(samples, api_create)
        api_page_ms = await timed(samples, api_page)

    conn = await asyncpg.connect(url)
    try:
        last_at = datetime.fromisoformat(last["created_at"])
        last_id = uuid.UUID(last["id"])

        async def raw_create(i: int) -> None:
            await conn.execute(RAW_INSERT, uuid.uuid4(), tenant_id, f"Raw {i}")

        async def raw_page(_: int) -> None:
            rows = await conn.fetch(RAW_PAGE, tenant_id, "ACTIVE", ["vip"], last_at, last_id)
            assert len(rows) == 51

        async def raw_create_txn(i: int) -> None:
            # What the API's unit of work writes: the row, its outbox event, its audit entry.
            async with conn.transaction():
                client_id = uuid.uuid4()
                await conn.execute(RAW_INSERT, client_id, tenant_id, f"Txn {i}")
                await conn.execute(RAW_EVENT, uuid.uuid4(), tenant_id, client_id)
                await conn.execute(RAW_AUDIT, uuid.uuid4(), tenant_id, str(client_id))

        raw_create_ms = await timed(samples, raw_create)
        raw_txn_ms = await timed(samples, raw_create_txn)
        raw_page_ms = await timed(samples, raw_page)
        plan = await conn.fetch(
            "EXPLAIN " + RAW_PAGE, tenant_id, "ACTIVE", ["vip"], last_at, last_id
        )
    finally:
        await conn.close()

    print(f"\n{samples} sequential samples each (after 20 warm-up calls), milliseconds")
    print(f"{'':38}{'p50':>9}{'p99':>9}   {'raw p50':>8}{'raw p99':>9}   {'ratio p50':>9}")
    for name, api, raw in (
        ("create client (POST)", api_create_ms, raw_create_ms),
        ("create vs raw client+event+audit tx", api_create_ms, raw_txn_ms),
        ("list page 2 (ACTIVE+vip, cursor)", api_page_ms, raw_page_ms),
    ):
        a50, a99 = percentiles(api)
        r50, r99 = percentiles(raw)
        print(f"{name:38}{a50:9.2f}{a99:9.2f}   {r50:8.2f}{r99:9.2f}   {a50 / r50:9.1f}x")
    print("\nplan of the list query:")
    for row in plan:
        print("  " + row[0])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()

    server = os.environ.get("BENCH_DATABASE_URL") or embedded_database_url(
        get_settings().embedded_pg_dir
    )
    name = f"crmflow_bench_api_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(with_database(server, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    proc: subprocess.Popen[bytes] | None = None
    try:
        migrate_forwards(url)
        tenant_id, key = await prepare(url, args.clients)
        port = free_port()
        proc = start_api(url, port)
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(base, proc)
        await measure(url, base, tenant_id, key, args.samples)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
