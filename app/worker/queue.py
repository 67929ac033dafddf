"""Which SAQ queue we talk to: Postgres (default, the same database) or Redis."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from psycopg_pool import AsyncConnectionPool
from saq import Queue
from saq.queue.postgres import PostgresQueue

from app.core.config import Settings, get_settings
from app.core.db import resolve_database_url

DEFAULT_QUEUE_NAME = "crmflow"

# Job options, set explicitly because SAQ's defaults bite (retries=1 is one attempt, timeout=10s,
# a dead worker's job is only retried once it is past its timeout/heartbeat).
JOB_TIMEOUT_S = 600
JOB_HEARTBEAT_S = 60
HEARTBEAT_EVERY_S = 15.0
JOB_RETRIES = 10
JOB_RETRY_DELAY_S = 1.0
JOB_RETRY_BACKOFF_MAX_S = 30.0
JOB_OPTIONS: dict[str, object] = {
    "timeout": JOB_TIMEOUT_S,
    "heartbeat": JOB_HEARTBEAT_S,
    "retries": JOB_RETRIES,
    "retry_delay": JOB_RETRY_DELAY_S,
    "retry_backoff": JOB_RETRY_BACKOFF_MAX_S,
    "ttl": 600,
}


def psycopg_url(url: str) -> str:
    """An asyncpg-style URL as libpq/psycopg wants it (driver suffix gone, unix socket kept)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    query = parse_qsl(parts.query, keep_blank_values=True)
    # asyncpg spells the SSL option "ssl"; libpq calls it "sslmode".
    query = [("sslmode" if k == "ssl" else k, v) for k, v in query]
    return urlunsplit(parts._replace(scheme=scheme, query=urlencode(query)))


def queue_url(settings: Settings | None = None) -> str:
    """settings.queue_url, or the Postgres queue on the service's own database."""
    settings = settings or get_settings()
    if settings.queue_url:
        return settings.queue_url
    return resolve_database_url(settings)


def build_queue(url: str | None = None, *, name: str = DEFAULT_QUEUE_NAME) -> Queue:
    """A SAQ queue for url (redis://… or postgres…), not yet connected."""
    url = url or queue_url()
    if url.startswith(("redis://", "rediss://")):
        return Queue.from_url(url, name=name)
    if url.startswith("unix://"):
        # Redis on a unix socket: redis-py reads unix:// URLs, SAQ's from_url does not.
        from redis.asyncio import Redis
        from saq.queue.redis import RedisQueue

        return RedisQueue(Redis.from_url(url), name=name)
    return PostgresQueue(
        pool=_queue_pool(psycopg_url(url)),
        name=name,
        min_size=2,
        max_size=8,
        manage_pool_lifecycle=True,
    )


def _queue_pool(conninfo: str) -> AsyncConnectionPool:
    """SAQ's pool, minus two costs that showed up in the worker's profile (scripts/bench.py).

    - No ping on every checkout (SAQ's default `check`): a broken connection fails its query and
      SAQ retries; the ping cost a round trip per queue operation.
    - synchronous_commit=off for the queue's bookkeeping only: a job row lost to a crash in the
      last few ms is recovered from the outbox (events.dispatched_at IS NULL, stale executions) by
      the dispatch and recovery sweeps, so no committed work depends on it. Our own writes keep
      full durability on their own connections.
    """
    return AsyncConnectionPool(
        conninfo,
        open=False,
        kwargs={"autocommit": True, "options": "-c synchronous_commit=off"},
    )


def is_redis(queue: Queue) -> bool:
    return type(queue).__name__ == "RedisQueue"
