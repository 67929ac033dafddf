"""Who is running an execution: a session advisory lock per execution, held while it runs.

The locks live on one dedicated connection per process, so a worker that dies (even SIGKILL)
drops them with its connection and the recovery sweep can take its executions over. They are an
efficiency measure: correctness comes from each step's conditional update (see runner.py), which
lets only one runner commit a given step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from uuid import UUID

import asyncpg

from app.core.db import is_database_unavailable, resolve_database_url


def lock_key(execution_id: UUID) -> int:
    """A signed 64-bit key from the UUID (the one-bigint form never meets SAQ's two-int locks)."""
    return int.from_bytes(execution_id.bytes[:8], "big", signed=True)


class ExecutionLocks:
    def __init__(self) -> None:
        self._conn: asyncpg.Connection | None = None
        self._io = asyncio.Lock()
        # Session locks are re-entrant: the in-process set stops two local tasks sharing one.
        self._held: set[UUID] = set()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._held.clear()
            self._conn = await asyncpg.connect(resolve_database_url())
        return self._conn

    async def acquire(self, ids: Iterable[UUID]) -> list[UUID]:
        """The ids this process now holds (others are running elsewhere or locally)."""
        wanted = [i for i in dict.fromkeys(ids) if i not in self._held]
        if not wanted:
            return []
        self._held.update(wanted)
        try:
            async with self._io:
                conn = await self._connection()
                rows = await conn.fetch(
                    "SELECT k FROM unnest($1::bigint[]) AS k WHERE pg_try_advisory_lock(k)",
                    [lock_key(i) for i in wanted],
                )
        except BaseException as exc:
            self._held.difference_update(wanted)
            if (
                isinstance(exc, Exception)
                and self._conn is not None
                and is_database_unavailable(exc)
            ):
                # A session the server ended (restart): its locks are gone, so is the connection.
                self._conn.terminate()
                self._conn = None
                self._held.clear()
            raise
        got = {r["k"] for r in rows}
        acquired = [i for i in wanted if lock_key(i) in got]
        self._held.difference_update(i for i in wanted if lock_key(i) not in got)
        return acquired

    async def release(self, ids: Iterable[UUID]) -> None:
        ids = [i for i in ids if i in self._held]
        if not ids:
            return
        self._held.difference_update(ids)
        async with self._io:
            if self._conn is None or self._conn.is_closed():
                return
            try:
                await self._conn.execute(
                    "SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k",
                    [lock_key(i) for i in ids],
                )
            except Exception:
                # The session is gone (database restart): so are all its locks. Start afresh.
                self._conn.terminate()
                self._conn = None
                self._held.clear()

    async def free(self, ids: Iterable[UUID]) -> list[UUID]:
        """Which of ids nobody holds right now (probe: take and give back at once)."""
        got = await self.acquire(ids)
        await self.release(got)
        return got

    async def close(self) -> None:
        async with self._io:
            if self._conn is not None and not self._conn.is_closed():
                await self._conn.close()
            self._conn = None
            self._held.clear()


LOCKS = ExecutionLocks()
