"""Advisory locks (per execution, and tenant drain slots): what a process takes, it gives back.

A fresh process's first acquire opens the locks' session; before the fix it also forgot the ids
it was taking, so release() skipped them and the execution stayed locked by a live worker for
good (its resume job and the recovery sweep both found it "running elsewhere").
"""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import asyncpg

from app.engine.locks import SLOT_KEYSPACE, ExecutionLocks, lock_key, slot_key


async def _free_elsewhere(database_url: str, ids: list[UUID]) -> list[bool]:
    """From another session: could each lock be taken now? (Given back at once.)"""
    conn = await asyncpg.connect(database_url)
    try:
        free = []
        for i in ids:
            got = await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(i))
            if got:
                await conn.execute("SELECT pg_advisory_unlock($1)", lock_key(i))
            free.append(bool(got))
        return free
    finally:
        await conn.close()


async def test_the_first_acquire_of_a_process_is_given_back(database_url: str) -> None:
    locks = ExecutionLocks()
    ids = [uuid4(), uuid4()]
    try:
        assert await locks.acquire(ids) == ids
        assert await _free_elsewhere(database_url, ids) == [False, False]
        await locks.release(ids)
        assert await _free_elsewhere(database_url, ids) == [True, True]
    finally:
        await locks.close()


async def test_concurrent_first_acquires_are_all_given_back(database_url: str) -> None:
    locks = ExecutionLocks()
    batches = [[uuid4(), uuid4()] for _ in range(4)]
    try:
        got = await asyncio.gather(*(locks.acquire(b) for b in batches))
        assert got == batches
        # Another local task asking for the same ids gets none: they are this process's already.
        assert await locks.acquire(batches[0]) == []
        await asyncio.gather(*(locks.release(b) for b in batches))
        flat = [i for b in batches for i in b]
        assert await _free_elsewhere(database_url, flat) == [True] * len(flat)
    finally:
        await locks.close()


async def test_free_reports_what_another_session_holds(database_url: str) -> None:
    locks = ExecutionLocks()
    busy, idle = uuid4(), uuid4()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", lock_key(busy))
        assert await locks.free([busy, idle]) == [idle]
        # The probe gave back what it took.
        assert await _free_elsewhere(database_url, [idle]) == [True]
    finally:
        await conn.close()
        await locks.close()


async def test_the_first_drain_slot_of_a_process_is_given_back(database_url: str) -> None:
    locks = ExecutionLocks()
    tenant = uuid4()
    conn = await asyncpg.connect(database_url)
    try:
        slot = await locks.take_slot(tenant, 1)
        assert slot == 0
        taken = "SELECT pg_try_advisory_lock($1, $2)"
        assert await conn.fetchval(taken, SLOT_KEYSPACE, slot_key(tenant, 0)) is False
        await locks.give_slot(tenant, 0)
        assert await conn.fetchval(taken, SLOT_KEYSPACE, slot_key(tenant, 0)) is True
    finally:
        await conn.close()
        await locks.close()
