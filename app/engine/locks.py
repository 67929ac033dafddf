"""Who is running an execution: a session advisory lock per execution, held while it runs.

The locks live on one dedicated connection per process, so a worker that dies (even SIGKILL)
drops them with its connection and the recovery sweep can take its executions over. They are an
efficiency measure: correctness comes from each step's conditional update (see runner.py), which
lets only one runner commit a given step.

The same connection holds the tenants' drain slots (fairness, see app/engine/jobs.py): slot s of
tenant t is a session advisory lock in the two-int key space, which never meets the one-bigint
execution locks. A dead worker's slots go with its connection, like its execution locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from uuid import UUID

import asyncpg

from app.core.db import is_database_unavailable, resolve_database_url

# The two-int key space of drain slots (the sweeps' lease uses 0x5C7E).
SLOT_KEYSPACE = 0x5C7F


def slot_key(tenant_id: UUID, slot: int) -> int:
    """The second int of slot `slot` of a tenant (a signed 32-bit number from the UUID)."""
    base = int.from_bytes(tenant_id.bytes[:4], "big")
    return ((base + slot + 2**31) % 2**32) - 2**31


def lock_key(execution_id: UUID) -> int:
    """A signed 64-bit key from the UUID (the one-bigint form never meets SAQ's two-int locks)."""
    return int.from_bytes(execution_id.bytes[:8], "big", signed=True)


class ExecutionLocks:
    def __init__(self) -> None:
        self._conn: asyncpg.Connection | None = None
        self._io = asyncio.Lock()
        # Session locks are re-entrant: the in-process sets stop two local tasks sharing one.
        # _held: locked on the current session. _taking: being locked right now by a local task.
        # Apart, because a new session (the first acquire, or after a restart) forgets what the
        # old one held, but not what a local task is about to take on the new one: clearing one
        # set for both once left an acquired lock untracked, so release() skipped it and the
        # execution stayed locked by a live worker for good (found by scripts/chaos.py).
        self._held: set[UUID] = set()
        self._taking: set[UUID] = set()
        # Drain slots this process holds: (tenant, slot).
        self._slots: set[tuple[UUID, int]] = set()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._held.clear()
            self._slots.clear()
            self._conn = await asyncpg.connect(resolve_database_url())
        return self._conn

    def _forget_connection(self) -> None:
        """The session is gone (database restart): so are all its locks."""
        if self._conn is not None:
            self._conn.terminate()
        self._conn = None
        self._held.clear()
        self._slots.clear()

    async def take_slot(self, tenant_id: UUID, limit: int) -> int | None:
        """One of the tenant's `limit` drain slots, or None when every one is taken (here or by
        another process)."""
        free = [s for s in range(limit) if (tenant_id, s) not in self._slots]
        if not free:
            return None  # all held by this process: no round trip
        for slot in free:
            self._slots.add((tenant_id, slot))
            try:
                async with self._io:
                    conn = await self._connection()
                    got = await conn.fetchval(
                        "SELECT pg_try_advisory_lock($1, $2)",
                        SLOT_KEYSPACE,
                        slot_key(tenant_id, slot),
                    )
            except BaseException as exc:
                self._slots.discard((tenant_id, slot))
                if isinstance(exc, Exception) and is_database_unavailable(exc):
                    self._forget_connection()
                raise
            if got:
                # Again: opening the session (the first take, or after a restart) cleared the set.
                self._slots.add((tenant_id, slot))
                return slot
            self._slots.discard((tenant_id, slot))
        return None

    async def give_slot(self, tenant_id: UUID, slot: int) -> None:
        if (tenant_id, slot) not in self._slots:
            return
        self._slots.discard((tenant_id, slot))
        async with self._io:
            if self._conn is None or self._conn.is_closed():
                return
            try:
                await self._conn.execute(
                    "SELECT pg_advisory_unlock($1, $2)", SLOT_KEYSPACE, slot_key(tenant_id, slot)
                )
            except Exception:
                self._forget_connection()

    async def acquire(self, ids: Iterable[UUID]) -> list[UUID]:
        """The ids this process now holds (others are running elsewhere or locally)."""
        wanted = [i for i in dict.fromkeys(ids) if i not in self._held and i not in self._taking]
        if not wanted:
            return []
        self._taking.update(wanted)
        try:
            async with self._io:
                conn = await self._connection()
                rows = await conn.fetch(
                    "SELECT k FROM unnest($1::bigint[]) AS k WHERE pg_try_advisory_lock(k)",
                    [lock_key(i) for i in wanted],
                )
        except BaseException as exc:
            if (
                isinstance(exc, Exception)
                and self._conn is not None
                and is_database_unavailable(exc)
            ):
                # A session the server ended (restart): its locks are gone, so is the connection.
                self._forget_connection()
            raise
        finally:
            self._taking.difference_update(wanted)
        got = {r["k"] for r in rows}
        acquired = [i for i in wanted if lock_key(i) in got]
        # No await since the query: the session that took these is still the current one.
        self._held.update(acquired)
        return acquired

    async def release(self, ids: Iterable[UUID]) -> None:
        ids = [i for i in ids if i in self._held]
        if not ids:
            return
        self._held.difference_update(ids)
        session = self._conn
        async with self._io:
            if self._conn is not session or self._conn is None or self._conn.is_closed():
                # The session that held them is gone, and its locks with it: unlocking on a
                # newer one could drop a lock a local task has taken there since.
                return
            try:
                await self._conn.execute(
                    "SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k",
                    [lock_key(i) for i in ids],
                )
            except Exception:
                # The session is gone (database restart): so are all its locks. Start afresh.
                self._forget_connection()

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
            self._slots.clear()


LOCKS = ExecutionLocks()
