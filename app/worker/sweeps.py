"""The periodic sweeps, run by one leader per queue that no dead worker can hold back.

Why not SAQ cron jobs: a cron job is a keyed queue job, and a job whose worker was SIGKILLed stays
"active" until SAQ's stuck-job sweep frees it (its heartbeat, then ~5 s per stuck job): under a
kill loop the recovery sweeps themselves stopped for half an hour.

Instead every worker runs a Sweeper. One of them holds a session advisory lock on its own
connection (the lease) and runs each sweep when it is due; the others retry the lock every
POLL_S. A leader that dies — SIGKILL included — drops its connection and with it the lock, so the
next tick runs on another worker within about POLL_S of when it is due. Sweeps are idempotent and
short (they enqueue work rather than doing it), so a tick that happens twice costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from app.core.db import database_lost, is_database_unavailable, resolve_database_url

log = structlog.get_logger("crmflow.worker")

# Advisory lock keyspace of the lease (two-int form; SAQ's own locks use another keyspace).
LEASE_KEYSPACE = 0x5C7E
POLL_S = 1.0
# A lease check that takes longer than this means the database is not answering.
CHECK_TIMEOUT_S = 5.0
# A tick still running after this long is abandoned (cancelled) so the next one can run: a tick
# hung on a connection that a database restart left half-open must not stop that sweep for good.
TICK_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Sweep:
    name: str
    every_s: float
    run: Callable[[], Awaitable[dict[str, Any]]]


class Sweeper:
    """Runs sweeps on this worker while it holds the queue's lease (see module docstring)."""

    def __init__(self, sweeps: list[Sweep], *, queue_name: str, poll_s: float = POLL_S) -> None:
        self.sweeps = sweeps
        self.queue_name = queue_name
        self.poll_s = poll_s
        self.leader = False
        self._conn: asyncpg.Connection | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._next_due: dict[str, float] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._db_down = False

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="crmflow-sweeper")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        self._running.clear()
        await self._drop_connection()

    async def _loop(self) -> None:
        now = time.time()
        for sweep in self.sweeps:
            self._next_due[sweep.name] = self._due_after(sweep, now)
        while not self._stopping.is_set():
            leading = await self._hold_lease()
            now = time.time()
            for sweep in self.sweeps:
                if now < self._next_due[sweep.name]:
                    continue
                self._next_due[sweep.name] = self._due_after(sweep, now)
                previous = self._running.get(sweep.name)
                if leading and (previous is None or previous.done()):
                    self._running[sweep.name] = asyncio.create_task(self._run(sweep))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.poll_s)

    @staticmethod
    def _due_after(sweep: Sweep, now: float) -> float:
        # Ticks on wall-clock multiples of every_s, so every worker agrees when one is due.
        return (now // sweep.every_s + 1) * sweep.every_s

    async def _hold_lease(self) -> bool:
        """True while this process holds the lease; (re)connects and retries the lock."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                if self._conn is None or self._conn.is_closed():
                    self.leader = False
                    self._conn = await asyncpg.connect(resolve_database_url())
                if self.leader:
                    # The lock lives as long as this session: proving the session alive is enough.
                    await self._conn.fetchval("SELECT 1")
                else:
                    self.leader = bool(
                        await self._conn.fetchval(
                            "SELECT pg_try_advisory_lock($1, hashtext($2))",
                            LEASE_KEYSPACE,
                            self.queue_name,
                        )
                    )
                    if self.leader:
                        log.info("worker.sweep_lease_taken", queue=self.queue_name)
        except Exception as exc:
            if not self._db_down:
                # Once per outage, not once per poll.
                log.warning("worker.sweep_lease_lost", queue=self.queue_name, error=repr(exc))
            self._db_down = True
            self.leader = False
            await self._drop_connection()
            return False
        if self._db_down:
            log.info("worker.sweep_lease_database_back", queue=self.queue_name)
            self._db_down = False
        return self.leader

    async def _run(self, sweep: Sweep) -> None:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(TICK_TIMEOUT_S):
                result = await sweep.run()
        except TimeoutError:
            log.warning("worker.sweep_timed_out", sweep=sweep.name, after_s=TICK_TIMEOUT_S)
            return
        except Exception as exc:
            if is_database_unavailable(exc):
                # The next tick runs once the database is back; the outage is logged once.
                database_lost(exc)
                return
            log.warning("worker.sweep_failed", sweep=sweep.name, error=repr(exc))
            return
        if any(result.values()):
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            # Periodic heartbeats: DEBUG (what they hand on logs its own lines).
            log.debug("worker.sweep_done", sweep=sweep.name, duration_ms=duration_ms, **result)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        self.leader = False
        if conn is not None and not conn.is_closed():
            try:
                async with asyncio.timeout(2):
                    await conn.close()
            except Exception:
                conn.terminate()
