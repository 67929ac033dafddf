"""Raw SQL with asyncpg `$n` parameters, in the caller's Piccolo transaction when there is one.

Piccolo's query builder is used for ordinary CRUD; hot paths (outbox, engine) write SQL directly.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from app.core.uow import get_engine


async def fetch(query: str, *args: Any) -> list[asyncpg.Record]:
    engine = get_engine()
    transaction = engine.current_transaction.get()
    if transaction is not None:
        rows: list[asyncpg.Record] = await transaction.connection.fetch(query, *args)
        return rows
    if engine.pool is None:
        raise RuntimeError("the connection pool is not started")
    async with engine.pool.acquire() as connection:
        rows = await connection.fetch(query, *args)
        return rows


async def fetchrow(query: str, *args: Any) -> asyncpg.Record | None:
    rows = await fetch(query, *args)
    return rows[0] if rows else None


async def fetchval(query: str, *args: Any) -> Any:
    row = await fetchrow(query, *args)
    return None if row is None else row[0]
