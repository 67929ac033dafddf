"""`crmflow status`: the database, its migrations, the queue, the workers seen lately."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app.core.config import Settings
from app.core.db import resolve_database_url


def safe_url(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Status:
    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def add(self, line: str, *, ok: bool = True) -> None:
        self.lines.append(line)
        self.ok = self.ok and ok


async def collect(settings: Settings) -> Status:
    from app.schema_check.migrations import migration_status
    from app.worker.queue import build_queue, is_redis, queue_url

    status = Status()
    url = resolve_database_url(settings)
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except Exception as exc:
        status.add(f"database: {safe_url(url)} — unreachable ({exc})", ok=False)
        return status
    try:
        version = await conn.fetchval("SHOW server_version")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        status.add(f"database: {safe_url(url)} — PostgreSQL {version}, {size}")
        migrations = await migration_status(conn)
        if migrations.pending or migrations.unknown:
            status.add(
                f"migrations: {len(migrations.applied)} applied, pending: "
                f"{', '.join(migrations.pending) or 'none'}"
                + (f"; unknown: {', '.join(migrations.unknown)}" if migrations.unknown else ""),
                ok=False,
            )
        else:
            status.add(f"migrations: {len(migrations.applied)} applied, none pending")
    finally:
        await conn.close()

    queue = build_queue(queue_url(settings))
    backend = "redis" if is_redis(queue) else "postgres"
    try:
        async with asyncio.timeout(10):
            await queue.connect()
            info: Any = await queue.info()
            from app.core.metrics import refresh_queue_gauges

            depth = await refresh_queue_gauges(queue)
            oldest = 0.0 if depth is None else depth[1]
    except Exception as exc:
        status.add(f"queue: {backend} {queue.name!r} — unreachable ({exc})", ok=False)
        return status
    finally:
        await queue.disconnect()
    status.add(
        f"queue: {backend} {queue.name!r} — {info['queued']} waiting "
        f"(oldest {oldest:.1f} s), {info['active']} running, {info['scheduled']} scheduled"
    )
    workers = info.get("workers") or {}
    if not workers:
        status.add("workers: none seen in the last 10 s")
    for worker_id, worker in sorted(workers.items()):
        stats = worker.get("stats") or {}
        seen = ""
        if isinstance(stats, dict) and stats.get("uptime") is not None:
            seen = f", up {int(stats['uptime']) // 1000} s"
        done = stats.get("complete", 0) if isinstance(stats, dict) else 0
        status.add(f"worker: {worker_id}{seen}, {done} jobs done")
    status.add(f"checked at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    return status
