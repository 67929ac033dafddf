"""Which SAQ queue we talk to: Postgres (default, the same database) or Redis."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from psycopg_pool import AsyncConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from saq import Queue
from saq.queue.postgres import PostgresQueue
from saq.queue.redis import PubSubMultiplexer

from app.core.config import Settings, get_settings
from app.core.db import database_lost, is_database_unavailable, resolve_database_url

log = structlog.get_logger("crmflow.worker")

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
    if url.startswith(("redis://", "rediss://", "unix://")):
        from redis.asyncio import Redis
        from saq.queue.redis import RedisQueue

        # Redis on a unix socket: redis-py reads unix:// URLs, SAQ's from_url does not.
        queue = RedisQueue(Redis.from_url(url), name=name)
        queue._pubsub = _PubSubThroughOutages(queue._pubsub.pubsub, prefix=queue._pubsub.prefix)
        return queue
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


class _PubSubThroughOutages(PubSubMultiplexer):
    """SAQ's job-status listener on Redis, minus a busy loop while Redis is down.

    SAQ starts it the first time something waits on a job (its own stuck-job sweep does, for a
    dead worker's job) and it runs for the life of the queue. SAQ's loop logs every failed read
    with a traceback and tries again at once: a Redis restart meant hundreds of tracebacks a
    second, and a worker too busy logging to finish the jobs it had. Here a lost connection is
    one warning per outage and a retry every RECONNECT_S; redis-py subscribes again by itself
    once it reconnects.
    """

    RECONNECT_S = 1.0

    async def _start(self) -> None:
        down = False
        subscribed = False
        while True:
            try:
                if not subscribed:
                    await self.pubsub.psubscribe(f"{self.prefix}*")
                    subscribed = True
                message = await self.pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                return
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if not down:
                    log.warning("worker.queue_listener_disconnected", error=repr(exc))
                    down = True
                await asyncio.sleep(self.RECONNECT_S)
                continue
            except Exception:
                log.exception("worker.queue_listener_failed")
                await asyncio.sleep(self.RECONNECT_S)
                continue
            if down:
                log.info("worker.queue_listener_reconnected")
                down = False
            if message and message["type"] == "pmessage":
                message["channel"] = message["channel"].decode("utf-8")
                self.publish(message["channel"], message)


def is_queue_unavailable(exc: BaseException) -> bool:
    """Does exc mean "the queue cannot be reached right now": Redis down or restarting, or the
    database under SAQ's Postgres queue (see is_database_unavailable)? Not a bug: the work
    waits in the database, where the sweeps find it once the queue is back."""
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError)) or is_database_unavailable(
        exc
    )


_OUTAGE_LOG_EVERY_S = 30.0
_last_outage_log = float("-inf")


def queue_lost(exc: BaseException) -> None:
    """Report a queue outage: one warning line every 30 s at most, never a traceback."""
    global _last_outage_log
    if is_database_unavailable(exc):
        database_lost(exc)
        return
    now = time.monotonic()
    if now - _last_outage_log >= _OUTAGE_LOG_EVERY_S:
        _last_outage_log = now
        log.warning(
            "worker.queue_unreachable",
            error=f"{type(exc).__name__}: {exc}"[:200],
            note="work waits in the database; the sweeps hand it on once the queue is back",
        )


def is_redis(queue: Queue) -> bool:
    return type(queue).__name__ == "RedisQueue"
