"""The migrations, run for real: forwards builds the schema, backwards empties it, and again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from app.core.migrate import migrate_backwards_all, migrate_forwards
from app.schema_check.catalog import is_ignored
from tables import ALL_TABLES
from tests.db import create_database, drop_database, server_url
from tests.schema.helpers import public_tables, run_verify

DECLARED = {t._meta.tablename for t in ALL_TABLES}


@pytest.fixture
def empty_url(database_url: str) -> Iterator[str]:
    url = asyncio.run(create_database(server_url(), prefix="crmflow_migrations"))
    yield url
    asyncio.run(drop_database(url))


async def test_forwards_backwards_forwards(empty_url: str) -> None:
    loop = asyncio.get_running_loop()
    assert await public_tables(empty_url) == set()

    await loop.run_in_executor(None, migrate_forwards, empty_url)
    assert await public_tables(empty_url) >= DECLARED
    first = await run_verify(empty_url, "--json")
    assert first.code == 0, first.stdout + first.stderr

    await loop.run_in_executor(None, migrate_backwards_all, empty_url)
    left = {t for t in await public_tables(empty_url) if not is_ignored(t)}
    assert left == set(), f"tables left after backwards all: {sorted(left)}"
    after_down = await run_verify(empty_url, "--json")
    assert after_down.code == 2
    assert len(after_down.report["migrations"]["pending"]) == len(
        after_down.report["migrations"]["files"]
    )

    await loop.run_in_executor(None, migrate_forwards, empty_url)
    second = await run_verify(empty_url, "--json")
    assert second.code == 0, second.stdout + second.stderr
    assert second.report["schema"] == first.report["schema"]


async def test_forwards_twice_is_a_no_op(empty_url: str) -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, migrate_forwards, empty_url)
    output = await loop.run_in_executor(None, migrate_forwards, empty_url)
    assert "No migrations need to be run" in output
    run = await run_verify(empty_url)
    assert run.code == 0, run.stdout
