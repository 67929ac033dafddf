"""The console's executions list at scale: 1,000,000 executions in one tenant, over HTTP.

A fresh database (BENCH_DATABASE_URL's server, or the embedded one) is migrated and loaded by
set-based INSERT ... SELECT generate_series (20 workflows, 10,000 clients, --executions
executions spread over 30 days; the newest few RUNNING, so the page stays live). The API runs as
its own process (worker off) on a socket this script bound (port 0, handed over by fd), an
operator signs in through the console's real sign-in form, and the script measures, one request
at a time while --pollers simulated open consoles poll the auto-refresh fragment every 3 s:

- the list page GET /dashboard/executions (full HTML), and its auto-refresh fragment
  (the same URL with HX-Request: true, what htmx fetches every 3 s);
- the page filtered (status, workflow, client, event type, a text search) and page 2 (cursor);
- GET /api/v1/executions (the same service as JSON) and the raw SQL of the list, for a ratio.

Usage: python scripts/bench_console.py [--executions 1000000] [--samples 200] [--name NAME]
       [--keep]    keep the database afterwards
       [--reuse]   measure the database a --keep run left (after migrating it forwards)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
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

WORKFLOWS = 20
CLIENTS = 10_000
LIVE_ROWS = 20  # the newest executions are RUNNING: the list keeps refreshing itself
POLL_S = 3.0
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')

LOAD_CLIENTS = """
INSERT INTO clients (id, tenant, name, email, company, status, tags, custom_fields,
                     created_at, updated_at)
SELECT md5('client' || k)::uuid, $1, 'Client ' || k, 'client' || k || '@example.test',
       'Company ' || (k % 500), 'ACTIVE', ARRAY[]::varchar[], '{}'::jsonb,
       now() - make_interval(days => 40), now() - make_interval(days => 40)
FROM generate_series(0, $2 - 1) AS k
"""

LOAD_EXECUTIONS = """
INSERT INTO workflow_executions (id, tenant, workflow, client, event, workflow_version,
    definition, status, trigger_data, current_step, depth, started_at, completed_at,
    error_message, created_at, updated_at)
SELECT gen_random_uuid(), $1, ($2::uuid[])[1 + i % array_length($2::uuid[], 1)],
       md5('client' || (i % $4))::uuid, NULL, 1, '{}'::jsonb, s.status,
       jsonb_build_object(
           'id', md5('event' || i)::uuid,
           'type', (ARRAY['CLIENT_CREATED', 'CLIENT_STATUS_CHANGED', 'order.paid'])[1 + i % 3],
           'payload', jsonb_build_object('order', 'ORD-' || i, 'amount', i % 1000),
           'depth', 0, 'created_at', to_char(t.at, 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')),
       CASE WHEN s.status = 'FAILED' THEN 1 WHEN s.status = 'COMPLETED' THEN 2 ELSE 0 END, 0,
       t.at,
       CASE WHEN s.status IN ('COMPLETED', 'FAILED', 'CANCELLED')
            THEN t.at + interval '2 seconds' END,
       CASE WHEN s.status = 'FAILED'
            THEN 'step 1 (WEBHOOK) failed: HTTP 503 from erp.example.com (order ORD-' || i || ')'
       END,
       t.at, t.at
FROM generate_series(1, $3) AS i
CROSS JOIN LATERAL (SELECT now() - make_interval(secs => i * 2.5) AS at) AS t
CROSS JOIN LATERAL (
    SELECT CASE WHEN i <= $5 THEN 'RUNNING'
                WHEN i % 20 = 0 THEN 'FAILED'
                WHEN i % 500 = 1 THEN 'CANCELLED'
                WHEN i % 1000 = 3 THEN 'WAITING'
                ELSE 'COMPLETED' END AS status
) AS s
"""

RAW_LIST = """
SELECT e.id, e.workflow, e.workflow_version, e.client, e.event, e.status, e.current_step,
       e.depth, e.trigger_data, e.resume_at, e.started_at, e.completed_at, e.error_message,
       e.created_at, e.updated_at
FROM workflow_executions e WHERE e.tenant = $1
ORDER BY e.created_at DESC, e.id DESC LIMIT 51
"""


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


async def timed(n: int, fn: Callable[[], Awaitable[Any]]) -> list[float]:
    for _ in range(min(20, n)):  # warm-up: connections, plans, caches
        await fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def prepare(url: str, executions: int) -> dict[str, Any]:
    """A tenant, an admin key, workflows, clients and the executions; ids the measures need."""
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
        workflow_ids = [uuid.uuid4() for _ in range(WORKFLOWS)]
        await conn.executemany(
            "INSERT INTO workflows (id, tenant, name, description, is_active, is_template, "
            "trigger_type, trigger_config, conditions, actions, version, created_at, updated_at) "
            "VALUES ($1, $2, $3, '', true, false, 'CLIENT_CREATED', '{}'::jsonb, NULL, "
            "'[]'::jsonb, 1, now(), now())",
            [(w, tenant_id, f"Workflow {i:02d}") for i, w in enumerate(workflow_ids)],
        )
        start = time.perf_counter()
        await conn.execute(LOAD_CLIENTS, tenant_id, CLIENTS)
        await conn.execute(LOAD_EXECUTIONS, tenant_id, workflow_ids, executions, CLIENTS, LIVE_ROWS)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        await conn.execute("VACUUM ANALYZE workflow_executions")
        await conn.execute("ANALYZE clients")
        print(
            f"loaded {executions:,} executions and {CLIENTS:,} clients in {loaded:.1f} s "
            f"(vacuum + analyze {time.perf_counter() - start:.1f} s)"
        )
        return {
            "tenant_id": tenant_id,
            "key": key.plaintext,
            "workflow": str(workflow_ids[7]),
            "client": str(uuid.UUID(await conn.fetchval("SELECT md5('client42')::uuid::text"))),
        }
    finally:
        await conn.close()


async def reuse(url: str) -> dict[str, Any]:
    """The ids of a database loaded by an earlier run (--keep), with a fresh key."""
    conn = await asyncpg.connect(url)
    try:
        tenant_id, user_id = await conn.fetchrow(
            "SELECT t.id, u.id FROM tenants t JOIN users u ON u.tenant = t.id "
            "WHERE t.slug = 'bench'"
        )
        key = generate_api_key()
        await conn.execute(
            'INSERT INTO api_keys (id, "user", name, prefix, key_hash, created_at) '
            "VALUES ($1, $2, 'bench', $3, $4, now())",
            uuid.uuid4(),
            user_id,
            key.prefix,
            key.key_hash,
        )
        workflow = await conn.fetchval(
            "SELECT id::text FROM workflows WHERE tenant = $1 ORDER BY name OFFSET 7 LIMIT 1",
            tenant_id,
        )
        count = await conn.fetchval(
            "SELECT count(*) FROM workflow_executions WHERE tenant = $1", tenant_id
        )
        await conn.execute("ANALYZE workflow_executions")
        print(f"reusing {count:,} executions")
        return {
            "tenant_id": tenant_id,
            "key": key.plaintext,
            "workflow": workflow,
            "client": str(uuid.UUID(await conn.fetchval("SELECT md5('client42')::uuid::text"))),
        }
    finally:
        await conn.close()


def start_api(url: str, sock: socket.socket) -> subprocess.Popen[bytes]:
    """The API in its own process, serving the socket this script bound (no port race)."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "RUN_WORKER_IN_API": "false",
        "LOG_LEVEL": "WARNING",
    }
    # Not uvicorn.run(fd=...): uvicorn takes an fd for an AF_UNIX socket, so asyncio leaves
    # Nagle's algorithm on for its TCP connections, and every response waits for the client's
    # delayed ACK (~40 ms each). socket.socket(fileno=...) reads the socket's real family, and
    # the connections get TCP_NODELAY as under `crmflow serve`.
    code = (
        "import socket, sys, uvicorn\n"
        "from app.server import create_app\n"
        "sock = socket.socket(fileno=int(sys.argv[1]))\n"
        "config = uvicorn.Config(create_app(), log_level='warning', log_config=None,"
        " access_log=False)\n"
        "uvicorn.Server(config).run(sockets=[sock])\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(sock.fileno())],
        cwd=ROOT,
        env=env,
        pass_fds=(sock.fileno(),),
    )


async def wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError("the API exited during start-up")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the API did not become healthy")


async def sign_in(base: str, key: str) -> httpx.AsyncClient:
    """A console session through the real sign-in form (cookie + CSRF)."""
    http = httpx.AsyncClient(base_url=base, timeout=60)
    form = await http.get("/dashboard/login")
    match = CSRF.search(form.text)
    assert match, "no CSRF field on the sign-in page"
    signed = await http.post(
        "/dashboard/login",
        data={"_csrf_token": match.group(1), "api_key": key, "next": "/dashboard"},
    )
    assert signed.status_code == 303, signed.text
    return http


async def poller(base: str, key: str, stop: asyncio.Event, counts: list[int]) -> None:
    """One open console: the fragment every POLL_S seconds, as htmx does."""
    http = await sign_in(base, key)
    try:
        while not stop.is_set():
            r = await http.get("/dashboard/executions", headers={"HX-Request": "true"})
            counts.append(r.status_code)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)
    finally:
        await http.aclose()


async def measure(
    url: str, base: str, ids: dict[str, Any], samples: int, pollers: int
) -> list[tuple[str, float, float]]:
    stop = asyncio.Event()
    polled: list[int] = []
    tasks = [asyncio.create_task(poller(base, ids["key"], stop, polled)) for _ in range(pollers)]
    console = await sign_in(base, ids["key"])
    api = httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {ids['key']}"}, timeout=60
    )
    results: list[tuple[str, float, float]] = []
    try:
        first = await api.get("/api/v1/executions", params={"limit": 50})
        cursor = first.json()["next_cursor"]

        def page(
            path: str,
            params: dict[str, str] | None = None,
            *,
            htmx: bool = False,
            codes: tuple[int, ...] = (200,),
        ) -> Callable[[], Awaitable[None]]:
            headers = {"HX-Request": "true"} if htmx else {}

            async def get() -> None:
                r = await console.get(path, params=params, headers=headers)
                assert r.status_code in codes, (path, params, r.status_code, r.text[:300])

            return get

        async def api_list() -> None:
            r = await api.get("/api/v1/executions", params={"limit": 50})
            assert r.status_code == 200, r.text

        cases: list[tuple[str, Callable[[], Awaitable[None]], int]] = [
            ("console list page (HTML)", page("/dashboard/executions"), samples),
            (
                "auto-refresh fragment (HX-Request)",
                page("/dashboard/executions", htmx=True),
                samples,
            ),
            (
                "list page 2 (cursor)",
                page("/dashboard/executions", {"cursor": cursor}),
                samples,
            ),
            ("filter status=FAILED", page("/dashboard/executions", {"status": "FAILED"}), samples),
            (
                "filter status=WAITING (rare)",
                page("/dashboard/executions", {"status": "WAITING"}),
                samples,
            ),
            (
                "filter workflow",
                page("/dashboard/executions", {"workflow": ids["workflow"]}),
                samples,
            ),
            ("filter client", page("/dashboard/executions", {"client": ids["client"]}), samples),
            (
                "filter event_type=order.paid",
                page("/dashboard/executions", {"event_type": "order.paid"}),
                samples,
            ),
            (
                "filter last 24 h + FAILED",
                page(
                    "/dashboard/executions",
                    {
                        "status": "FAILED",
                        "from": time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 86400)),
                    },
                ),
                samples,
            ),
            (
                "search q=HTTP 503 (frequent)",
                page("/dashboard/executions", {"q": "HTTP 503"}),
                samples,
            ),
            (
                # Reads back to the oldest row: at 1,000,000 refused (400, "narrow it") at the
                # search bound; a small --executions run may finish the search (200, no row).
                "search q=ORD-999999 (oldest; bounded)",
                page("/dashboard/executions", {"q": "ORD-999999"}, codes=(200, 400)),
                max(5, samples // 20),
            ),
            (
                "search q=ORD-999999 + time range",
                page(
                    "/dashboard/executions",
                    {
                        "q": "ORD-999999",
                        "to": time.strftime(
                            "%Y-%m-%dT%H:%M", time.gmtime(time.time() - 28.5 * 86400)
                        ),
                    },
                ),
                max(5, samples // 20),
            ),
            ("API GET /api/v1/executions", api_list, samples),
        ]
        for name, fn, n in cases:
            p50, p95 = percentiles(await timed(n, fn))
            results.append((name, p50, p95))
            print(f"  {name:40}{p50:9.2f}{p95:9.2f}   (n={n})", flush=True)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await console.aclose()
        await api.aclose()

    conn = await asyncpg.connect(url)
    try:
        raw = percentiles(await timed(samples, lambda: conn.fetch(RAW_LIST, ids["tenant_id"])))
        results.append(("raw SQL of the list (asyncpg)", raw[0], raw[1]))
        print(f"  {'raw SQL of the list (asyncpg)':40}{raw[0]:9.2f}{raw[1]:9.2f}")
    finally:
        await conn.close()
    live = sum(1 for c in polled if c == 200)
    print(f"\nauto-refresh: {pollers} open consoles polled {len(polled)} times ({live} live 200s)")
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--pollers", type=int, default=5, help="open consoles auto-refreshing")
    parser.add_argument("--name", default=f"crmflow_bench_console_{uuid.uuid4().hex[:8]}")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="measure a database an earlier --keep run loaded"
    )
    args = parser.parse_args()

    server = os.environ.get("BENCH_DATABASE_URL") or embedded_database_url(
        get_settings().embedded_pg_dir
    )
    admin = await asyncpg.connect(with_database(server, "postgres"))
    if not args.reuse:
        await admin.execute(f'CREATE DATABASE "{args.name}"')
    url = with_database(server, args.name)
    proc: subprocess.Popen[bytes] | None = None
    try:
        start = time.perf_counter()
        migrate_forwards(url)  # on a reused database: the migrations added since (indexes)
        print(f"migrations: {time.perf_counter() - start:.1f} s")
        ids = await reuse(url) if args.reuse else await prepare(url, args.executions)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        proc = start_api(url, sock)
        sock.close()  # the API process holds its own copy
        await wait_healthy(base, proc)
        print(
            f"\n{args.samples} sequential requests per line (after 20 warm-up), "
            f"{args.pollers} consoles auto-refreshing meanwhile; milliseconds"
        )
        print(f"  {'':40}{'p50':>9}{'p95':>9}")
        results = await measure(url, base, ids, args.samples, args.pollers)
        page_p50 = results[0][1]
        verdict = "OK" if page_p50 < 100 else "OVER"
        print(f"\nlist page p50 {page_p50:.1f} ms: {verdict} (target < 100 ms)")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        if not args.keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{args.name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
