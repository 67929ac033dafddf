"""Retention at scale: time to prune N old executions (with their step logs) while the engine runs.

A database of its own on BENCH_DATABASE_URL's server (default: TEST_DATABASE_URL's, else the
embedded server), dropped afterwards. One tenant gets N COMPLETED executions 20 days old with
--logs step logs each (bulk INSERT … generate_series), then an in-process worker runs a workflow
(ADD_TAG on CLIENT_CREATED) for a steady stream of new clients while `prune()` deletes the old
rows in its batches. Reported: prune time and rows/s, and the engine's event → COMPLETED latency
and throughput before and during the prune.

Usage: python scripts/bench_prune.py [--executions 1000000] [--logs 3] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.db import with_database  # noqa: E402
from app.core.migrate import migrate_forwards  # noqa: E402


def _server_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from app.core.config import get_settings
    from app.core.embedded_pg import embedded_database_url

    return embedded_database_url(get_settings().data_dir / "pg-test")


async def _fill(url: str, tenant_id: uuid.UUID, workflow_id: uuid.UUID, n: int, logs: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        chunk = 200_000
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            await conn.execute(
                """
                WITH ins AS (
                    INSERT INTO workflow_executions (id, tenant, workflow, workflow_version,
                        definition, status, trigger_data, current_step, depth, started_at,
                        completed_at, created_at, updated_at)
                    SELECT gen_random_uuid(), $1, $2, 1, '{"actions": []}'::jsonb, 'COMPLETED',
                        '{}'::jsonb, $4, 0, ts, ts, ts, ts
                    FROM (SELECT now() - interval '20 days' - g * interval '1 ms' AS ts
                          FROM generate_series(1, $3) g) s
                    RETURNING id
                )
                INSERT INTO workflow_execution_logs (id, execution, step_index, action_type,
                    status, attempt, input_data, duration_ms, executed_at, created_at)
                SELECT gen_random_uuid(), ins.id, k, 'ADD_TAG', 'SUCCESS', 1,
                       '{"tag": "vip"}'::jsonb, 1, now(), now()
                FROM ins, generate_series(0, $4 - 1) k
                """,
                tenant_id,
                workflow_id,
                size,
                logs,
            )
            print(f"  inserted {start + size:,} executions", flush=True)
        await conn.execute("VACUUM ANALYZE workflow_executions")
        await conn.execute("VACUUM ANALYZE workflow_execution_logs")
    finally:
        await conn.close()


async def _load(
    tenant_id: uuid.UUID, rate: float, stop: asyncio.Event, created: list[uuid.UUID]
) -> None:
    from app.clients.service import create_client
    from app.core.request_context import Actor, set_actor
    from app.core.uow import unit_of_work

    set_actor(Actor(tenant_id=tenant_id))
    while not stop.is_set():
        async with unit_of_work():
            client = await create_client(
                tenant_id=tenant_id, actor_id=None, data={"name": f"c-{uuid.uuid4().hex[:8]}"}
            )
        created.append(uuid.UUID(str(client["id"])))
        await asyncio.sleep(1 / rate)


async def _latencies(url: str, since: float, until: float) -> tuple[int, list[float]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            SELECT extract(epoch FROM x.completed_at - e.created_at) AS s
            FROM workflow_executions x JOIN events e ON e.id = x.event
            WHERE x.status = 'COMPLETED' AND e.created_at >= to_timestamp($1)
              AND e.created_at < to_timestamp($2)
            """,
            since,
            until,
        )
        pending = await conn.fetchval(
            """
            SELECT count(*) FROM events e
            WHERE e.created_at >= to_timestamp($1) AND e.created_at < to_timestamp($2)
              AND NOT EXISTS (SELECT 1 FROM workflow_executions x
                              WHERE x.event = e.id AND x.status = 'COMPLETED')
            """,
            since,
            until,
        )
    finally:
        await conn.close()
    return int(pending), sorted(float(r["s"]) for r in rows)


def _describe(name: str, seconds: float, pending: int, lat: list[float]) -> str:
    if not lat:
        return f"{name}: no executions completed ({pending} unfinished)"
    p = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
    return (
        f"{name}: {len(lat)} executions in {seconds:.1f} s ({len(lat) / seconds:.1f}/s), "
        f"event→COMPLETED p50 {p[49] * 1000:.0f} ms, p95 {p[94] * 1000:.0f} ms, "
        f"max {lat[-1] * 1000:.0f} ms; unfinished {pending}"
    )


async def main(args: argparse.Namespace) -> None:
    server = _server_url()
    name = f"crmflow_prune_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = with_database(server, name)
    try:
        await _run(url, args)
    finally:
        admin = await asyncpg.connect(server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _run(url: str, args: argparse.Namespace) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["PRUNE_INTERVAL_S"] = "86400"  # only the measured prune runs
    os.environ.pop("QUEUE_URL", None)
    from app.core.config import get_settings

    get_settings.cache_clear()
    await asyncio.to_thread(migrate_forwards, url)

    from app.core.db import pool_options
    from app.core.uow import get_engine, unit_of_work
    from app.retention.service import prune
    from app.tenants.service import create_tenant
    from app.worker.queue import build_queue
    from app.worker.runtime import WorkerRuntime
    from app.workflows.schemas import WorkflowCreate
    from app.workflows.service import create_workflow

    settings = get_settings()
    engine = get_engine()
    await engine.start_connection_pool(**pool_options(settings))
    import msgspec

    async with unit_of_work():
        boot = await create_tenant(name="Prune bench", admin_email="admin@prune.test")
        workflow = await create_workflow(
            tenant_id=boot.tenant_id,
            actor_id=None,
            data=msgspec.convert(
                {
                    "name": "tag new clients",
                    "trigger_type": "CLIENT_CREATED",
                    "actions": [{"type": "ADD_TAG", "config": {"tag": "new"}}],
                    "is_active": True,
                },
                WorkflowCreate,
            ),
        )
    started = time.perf_counter()
    print(f"filling {args.executions:,} executions x {args.logs} logs ...", flush=True)
    await _fill(url, boot.tenant_id, uuid.UUID(str(workflow.id)), args.executions, args.logs)
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)

    runtime = WorkerRuntime(build_queue(), settings=settings, embedded=True)
    await runtime.start()
    stop = asyncio.Event()
    created: list[uuid.UUID] = []
    load = asyncio.create_task(_load(boot.tenant_id, args.rate, stop, created))
    try:
        baseline_from = time.time()
        await asyncio.sleep(args.baseline_s)
        prune_from = time.time()
        t0 = time.perf_counter()
        report = await prune(settings)
        prune_s = time.perf_counter() - t0
        prune_until = time.time()
        stop.set()
        await load
        await asyncio.sleep(3)  # the last events' executions finish
    finally:
        stop.set()
        await asyncio.gather(load, return_exceptions=True)
        await runtime.stop()
        await engine.close_connection_pool()

    counts = report.total()
    rows = counts.executions + counts.execution_logs
    print(
        f"\npruned {counts.executions:,} executions + {counts.execution_logs:,} step logs "
        f"in {prune_s:.1f} s ({counts.executions / prune_s:,.0f} executions/s, "
        f"{rows / prune_s:,.0f} rows/s; batch {settings.prune_batch_size})"
    )
    base_pending, base = await _latencies(url, baseline_from, prune_from)
    during_pending, during = await _latencies(url, prune_from, prune_until)
    print(_describe("engine before the prune", prune_from - baseline_from, base_pending, base))
    print(_describe("engine during the prune", prune_until - prune_from, during_pending, during))
    left: Any = await _count_left(url)
    print(f"left in the database: {left}")


async def _count_left(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {
            "executions": int(await conn.fetchval("SELECT count(*) FROM workflow_executions")),
            "logs": int(await conn.fetchval("SELECT count(*) FROM workflow_execution_logs")),
        }
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--logs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20.0, help="new clients (events) per second")
    parser.add_argument("--baseline-s", type=float, default=10.0)
    asyncio.run(main(parser.parse_args()))
