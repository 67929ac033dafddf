"""Raw SQL with asyncpg `$n` parameters, in the caller's Piccolo transaction when there is one.

The app's queries are SQL strings in the module that owns them (a feature's service or
`queries.py`, the engine, core's auth), sent through these three functions; rows queued with
`uow.defer_insert` are written by the unit of work itself, in one statement before it commits.
Piccolo's query builder appears only in the demo seed; the schema checker (`app/schema_check/`)
reads the catalog on connections of its own. The tables themselves are
declared once, in `tables/`: tests/schema/test_sql_fits_schema.py prepares every statement of
app/ against the schema the migrations build, so a renamed column fails a test, not a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import asyncpg
import msgspec

from app.core.uow import DEFERRED_TABLES, flush_deferred, get_engine, has_deferred

S = TypeVar("S", bound=msgspec.Struct)


def to_struct(out: type[S], row: Mapping[str, Any], **columns: str) -> S:
    """A row as an `out` struct; `columns` names the column of each field named otherwise
    (`client_id="client"`). Other columns the row has are ignored."""
    values = dict(row)
    for name, column in columns.items():
        values[name] = values[column]
    return msgspec.convert(values, out)


def structs(out: type[S], rows: Iterable[Mapping[str, Any]], **columns: str) -> list[S]:
    """Rows as `out` structs (see to_struct)."""
    return [to_struct(out, row, **columns) for row in rows]


async def fetch(query: str, *args: Any) -> list[asyncpg.Record]:
    engine = get_engine()
    transaction = engine.current_transaction.get()
    if transaction is not None:
        if has_deferred() and DEFERRED_TABLES.search(query):
            # Rows queued for a table this statement names go first: it must see them.
            await flush_deferred(transaction.connection)
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
