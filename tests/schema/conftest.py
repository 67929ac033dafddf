"""A pristine migrated database per run, copied (CREATE DATABASE … TEMPLATE) for each drift."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import pytest

from app.core.migrate import migrate_forwards
from tests.db import create_database, database_name, drop_database, server_url


@pytest.fixture(scope="session")
def pristine_url(database_url: str) -> Iterator[str]:
    """Built by the real migrations; nothing ever connects to it, so it can be a template."""
    url = asyncio.run(create_database(server_url(), prefix="crmflow_schema_tpl"))
    migrate_forwards(url)
    yield url
    asyncio.run(drop_database(url))


ScratchFactory = Callable[[], Coroutine[Any, Any, str]]


@pytest.fixture
async def scratch_db(pristine_url: str) -> AsyncIterator[ScratchFactory]:
    """Call it for a fresh copy of the pristine database; every copy is dropped afterwards."""
    made: list[str] = []

    async def make() -> str:
        url = await create_database(
            server_url(), prefix="crmflow_schema_copy", template=database_name(pristine_url)
        )
        made.append(url)
        return url

    yield make
    for url in made:
        await drop_database(url)
