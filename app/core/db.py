"""Database wiring: which PostgreSQL we talk to, and the Piccolo engine for it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
from piccolo.engine.postgres import PostgresEngine

from app.core.config import Settings, get_settings
from app.core.embedded_pg import embedded_database_url

log = logging.getLogger(__name__)


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


def encode_jsonb(value: Any) -> str:
    """A Python value as JSON text; a str is taken to be JSON text already (what Piccolo sends)."""
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


async def init_connection(connection: asyncpg.Connection) -> None:
    """Every pooled connection reads jsonb as Python values and takes them as parameters.

    The one JSON codec of the app: no query decodes jsonb text itself.
    """
    await connection.set_type_codec(
        "jsonb", encoder=encode_jsonb, decoder=msgspec.json.decode, schema="pg_catalog"
    )


def pool_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """asyncpg pool arguments for every pool (API, worker, CLI): same codec, same reset."""
    return {
        "max_size": settings.db_pool_max_size,
        "init": init_connection,
        "reset": _keep_session,
        # An unreachable host fails a request after this long, not after asyncpg's 60 s.
        "timeout": _CONNECT_TIMEOUT_S,
        **overrides,
    }


# Seconds a client is told to wait (Retry-After) while the database is unreachable.
RETRY_AFTER_S = 5
_CONNECT_TIMEOUT_S = 10.0
_DRIVER_MODULES = ("asyncpg", "psycopg", "psycopg_pool", "piccolo")
_OUTAGE_LOG_EVERY_S = 30.0
_last_outage_log = 0.0
_background: set[asyncio.Task[None]] = set()


def _raised_by_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.split(".", 1)[0] in _DRIVER_MODULES:
            return True
        tb = tb.tb_next
    return False


# asyncpg detaches a pooled connection's proxy when the server ends the session under it
# (Connection._cleanup → holder._release_on_close): the next statement on the proxy then fails with
# "connection has been released back to the pool", not "closed". Our code never keeps a proxy past
# its own release (app/core/sql.py uses the transaction's connection or a scoped acquire), so this
# message means the session was ended by the server — a restart — not a use-after-release bug.
_RELEASED_UNDER_US = "connection has been released back to the pool"


def is_database_unavailable(exc: BaseException) -> bool:
    """Does exc mean "the database cannot be reached right now" (retry later), not a bug?

    Covers: nothing listening (refused, no socket), a server shutting down or starting
    (57P01/57P02/57P03), connections cut mid-use, too many connections, connect timeouts, and
    asyncpg's "cannot switch to state N" — the protocol state of a pooled connection that the
    server terminated while it was idle (a fast shutdown sends every idle session a FATAL
    57P01; asyncpg keeps the half-read error and fails the next query on that connection), and
    a connection in use that the server ended between two statements (see _RELEASED_UNDER_US).
    """
    import psycopg
    import psycopg_pool

    if isinstance(
        exc,
        (
            asyncpg.PostgresConnectionError,
            asyncpg.exceptions.OperatorInterventionError,
            asyncpg.TooManyConnectionsError,
            asyncpg.exceptions.InternalClientError,
            psycopg.OperationalError,
            psycopg_pool.PoolTimeout,
        ),
    ) and not isinstance(exc, asyncpg.QueryCanceledError):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        message = str(exc)
        return "closed" in message or "closing" in message or _RELEASED_UNDER_US in message
    if isinstance(exc, (OSError, TimeoutError)):
        return _raised_by_driver(exc)
    return False


def database_lost(exc: BaseException) -> None:
    """The database went away: replace every pooled connection, log once per outage.

    Connections opened before a restart are dead (or hold a half-read FATAL, see above); expiring
    them makes the pool open fresh ones on the next acquire instead of failing one query per
    stale connection after the server is back.
    """
    global _last_outage_log
    import time

    from app.core.uow import get_engine

    pool = getattr(get_engine(), "pool", None)
    if pool is not None:
        task = asyncio.get_running_loop().create_task(pool.expire_connections())
        _background.add(task)
        task.add_done_callback(_background.discard)
    now = time.monotonic()
    if now - _last_outage_log >= _OUTAGE_LOG_EVERY_S:
        _last_outage_log = now
        log.warning("database unreachable (%s); answering 503 until it is back", _short(exc))


def _short(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        # "cannot switch to state N; another operation is in progress": the protocol state of a
        # connection the server closed under it (see is_database_unavailable), not a bug to chase.
        return "a pooled connection was closed by the server (asyncpg InternalClientError)"
    return f"{type(exc).__name__}: {exc}"[:200]
