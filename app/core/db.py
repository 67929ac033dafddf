"""Database wiring: which PostgreSQL we talk to, and the Piccolo engine for it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from app.core.config import Settings, get_settings
from app.core.embedded_pg import embedded_database_url


def resolve_database_url(settings: Settings | None = None) -> str:
    """DATABASE_URL if set, else the embedded server's URI (starting it if needed)."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return embedded_database_url(settings.embedded_pg_dir)


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def make_engine(url: str) -> PostgresEngine:
    """A Piccolo engine for url; the pool is started by the app lifespan or the worker."""
    return PostgresEngine(config={"dsn": url}, log_queries=False)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on every release (one round trip per transaction).

    asyncpg still rolls back an open transaction before calling this. The reset query would
    undo session state (SET, LISTEN, advisory locks) that our pooled connections never take:
    execution locks live on their own connection (app/engine/locks.py) and settings are SET LOCAL.
    """


def pool_options(settings: Settings) -> dict[str, Any]:
    """asyncpg pool arguments for the API and the worker."""
    return {"max_size": settings.db_pool_max_size, "reset": _keep_session}
