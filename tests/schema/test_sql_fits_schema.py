"""Every raw SQL statement in app/ is prepared against the schema the migrations build.

A renamed or dropped column fails here, not when a request first reaches the query: the
guarantee an ORM's generated client gives, kept for hand-written SQL (tests/schema/sql_catalog.py
collects the statements from the source).
"""

from __future__ import annotations

import asyncpg

from tests.schema.conftest import ScratchFactory
from tests.schema.helpers import execute
from tests.schema.sql_catalog import DYNAMIC, USED_DYNAMIC, Statement, collect


async def _unprepared(url: str, statements: list[Statement]) -> dict[str, str]:
    """{where: error} for every statement the server refuses to prepare."""
    failures: dict[str, str] = {}
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            try:
                await conn.prepare(statement.sql)
            except asyncpg.PostgresError as exc:
                failures[statement.where] = f"{type(exc).__name__}: {exc}\n  {statement.sql}"
    finally:
        await conn.close()
    return failures


def test_every_statement_is_collected() -> None:
    statements, unresolved = collect()
    assert not unresolved, "SQL the collector cannot resolve (add it to DYNAMIC): " + repr(
        unresolved
    )
    assert len(statements) > 80  # the collector still finds the SQL (it did 100+ when written)
    stale = set(DYNAMIC) - USED_DYNAMIC
    assert not stale, f"DYNAMIC entries no statement uses any more: {sorted(stale)}"


async def test_every_statement_prepares_on_the_migrated_schema(pristine_url: str) -> None:
    statements, _ = collect()
    failures = await _unprepared(pristine_url, statements)
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())


async def test_a_renamed_column_fails_the_statements_that_use_it(
    scratch_db: ScratchFactory,
) -> None:
    """The guarantee itself: rename notes.body in a throw-away copy and the notes SQL fails."""
    statements, _ = collect()
    url = await scratch_db()
    await execute(url, "ALTER TABLE notes RENAME COLUMN body TO text")
    failures = await _unprepared(url, statements)
    note_sql = [s.where for s in statements if s.where.startswith("app/notes/service.py")]
    assert note_sql
    assert all(where in failures for where in note_sql), failures.keys()
    assert all(
        "body" in failures[where] and "does not exist" in failures[where] for where in note_sql
    )
    assert not any(w.startswith("app/tasks/") for w in failures), "only notes' SQL is affected"
