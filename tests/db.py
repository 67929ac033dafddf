"""Test databases: a fresh one per run built by the real migrations, plus scratch copies."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from app.core.config import PROJECT_ROOT
from app.core.db import with_database
from app.core.embedded_pg import embedded_database_url


def server_url() -> str:
    """TEST_DATABASE_URL's server, or the embedded one (its own data dir, apart from `make run`)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return embedded_database_url(Path(PROJECT_ROOT / ".data" / "pg-test"))


async def create_database(base_url: str, *, prefix: str, template: str | None = None) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(with_database(base_url, "postgres"))
    try:
        template_sql = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{template_sql}')
    finally:
        await conn.close()
    return with_database(base_url, name)


async def drop_database(url: str) -> None:
    name = database_name(url)
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def database_name(url: str) -> str:
    # The path, not the last "/": unix-socket URLs end in "?host=/path/to/socket-dir".
    return urlsplit(url).path.lstrip("/")
