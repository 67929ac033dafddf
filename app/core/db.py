"""Database wiring: which PostgreSQL we talk to, and the Piccolo engine for it."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

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
