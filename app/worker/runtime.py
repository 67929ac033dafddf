"""The worker runtime: a connected queue, the event dispatcher, and (optionally) a SAQ Worker.

The API process always has a runtime (it must enqueue the events it commits); it also works
jobs when settings.run_worker_in_api. `crmflow worker` runs one standalone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from litestar import Litestar
from saq import Queue, Worker
from saq.types import PartialTimersDict

from app.core.config import Settings, get_settings
from app.core.db import is_database_unavailable, pool_options
from app.core.metrics import refresh_queue_gauges, serve_metrics
from app.core.uow import set_event_dispatcher
from app.engine.locks import LOCKS
from app.worker.dispatch import EventDispatcher
from app.worker.enqueue import set_queue
from app.worker.queue import (
    DEFAULT_QUEUE_NAME,
    build_queue,
    is_queue_unavailable,
    is_redis,
    queue_lost,
)
from app.worker.registry import FUNCTIONS, sweeps
from app.worker.sweeps import Sweeper

log = structlog.get_logger("crmflow.worker")


class _OutagesAsOneLine(logging.Filter):
    """SAQ logs every failure in its worker loop with a traceback: "Error processing job" (a job
    that met the database outage, or SAQ's own bookkeeping that met a Redis restart),
    "Upkeep task failed unexpectedly" (its timers, same). Those are the outage, not bugs, and
    SAQ retries them: the outage is logged as one warning line (queue_lost / database_lost, at
    most every 30 s) instead. Any other SAQ error keeps its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and is_queue_unavailable(exc):
            queue_lost(exc)
            return False
        return True


# SAQ logs every enqueue/dequeue at INFO; our hooks log each job once, with its duration.
logging.getLogger("saq").setLevel(logging.WARNING)
logging.getLogger("saq").addFilter(_OutagesAsOneLine())
# During a database outage both pools log every reconnection attempt (dozens a second); the
# outage is logged once by app.core.db.database_lost and the sweeper, and they recover alone.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)

_current: WorkerRuntime | None = None
GAUGE_REFRESH_S = 5.0
# SAQ's own sweep of stuck jobs (a dead worker's, past its heartbeat): every 10 s, not 60.
_TIMERS: PartialTimersDict = {"schedule": 1, "worker_info": 10, "sweep": 10, "abort": 1}


async def _before_process(ctx: dict[str, Any]) -> None:
    structlog.contextvars.clear_contextvars()
    job = ctx.get("job")
    ctx["started_at"] = time.perf_counter()
    if job is not None:
        structlog.contextvars.bind_contextvars(job_id=job.key, job_function=job.function)


async def _after_process(ctx: dict[str, Any]) -> None:
    job = ctx.get("job")
    started = ctx.get("started_at")
    duration_ms = None if started is None else round((time.perf_counter() - started) * 1000, 1)
    status = getattr(getattr(job, "status", None), "value", None)
    exception = ctx.get("exception")
    # A job's own lines say what it did (execution completed, email sent): its end is DEBUG.
    logger = log.warning if exception is not None else log.debug
    if exception is not None and is_queue_unavailable(exception):
        # SAQ retries the job. The outage is logged once (and stale pooled connections are
        # replaced) by queue_lost / database_lost, not once per job that met it.
        queue_lost(exception)
        logger = log.debug
    logger(
        "worker.job_done",
        status=status,
        duration_ms=duration_ms,
        attempts=getattr(job, "attempts", None),
        error=None if exception is None else repr(exception),
    )
    structlog.contextvars.clear_contextvars()


class _Worker(Worker[Any]):
    """SAQ's worker, stopping quietly when idle.

    SAQ's stop() waits up to the grace period for every task it owns — its idle dequeue waits
    and its upkeep timers (which sleep up to 10 s) included — and then warns that "some tasks did
    not finish". Here stop() first waits for the jobs in flight only; once none is left, the
    remaining tasks are idle loops and are cancelled at once. A job still running after the grace
    period is handed back by SAQ as before (with its warning: then it means something).
    """

    async def stop(self) -> None:
        self.event.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._shutdown_grace_period_s or 0)
        # SAQ offers no event for "no job in flight": poll its bookkeeping briefly.
        while self.job_task_contexts and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if not self.job_task_contexts:
            idle = list(self.tasks)
            for task in idle:
                task.cancel()
            await asyncio.gather(*idle, return_exceptions=True)
            # All done: nothing left for SAQ's stop() to wait for.
            self.tasks.difference_update(idle)
        else:
            # The grace period is spent: SAQ hands back what still runs now, rather than
            # granting a second grace period of its own.
            self._shutdown_grace_period_s = 0
        await super().stop()


class WorkerRuntime:
    def __init__(
        self,
        queue: Queue,
        *,
        settings: Settings | None = None,
        run_worker: bool = True,
        embedded: bool = True,
    ) -> None:
        self.queue = queue
        self.settings = settings or get_settings()
        self.run_worker = run_worker
        # Inside another server (the API, a test) the host owns signals; standalone SAQ does.
        self.embedded = embedded
        self.dispatcher = EventDispatcher()
        self.worker: Worker[Any] | None = None
        self.sweeper: Sweeper | None = None
        self._task: asyncio.Task[None] | None = None

    def make_worker(self) -> Worker[Any]:
        worker: Worker[Any] = _Worker(
            self.queue,
            functions=FUNCTIONS,
            concurrency=self.settings.worker_concurrency,
            before_process=_before_process,
            after_process=_after_process,
            timers=_TIMERS,
            # SIGTERM: in-flight jobs get this long to finish, then are handed back (retried).
            shutdown_grace_period_s=5,
            cancellation_hard_deadline_s=2.0,
        )
        if self.embedded:
            worker.SIGNALS = []
        return worker

    async def connect(self) -> None:
        global _current
        await self.queue.connect()
        set_queue(self.queue)
        set_event_dispatcher(self.dispatcher)
        _current = self

    async def start(self) -> None:
        """Connect, install the dispatcher, and start working jobs in the background."""
        await self.connect()
        if self.run_worker:
            self.start_worker()

    def start_worker(self) -> None:
        self.worker = self.make_worker()
        self._task = asyncio.create_task(self.worker.start(), name="saq-worker")
        self.start_sweeper()

    def start_sweeper(self) -> None:
        self.sweeper = Sweeper(sweeps(self.settings), queue_name=self.queue.name)
        self.sweeper.start()

    async def stop_worker(self) -> None:
        if self.sweeper is not None:
            await self.sweeper.stop()
            self.sweeper = None
        if self.worker is not None:
            await self.worker.stop()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self.worker, self._task = None, None

    async def stop(self) -> None:
        global _current
        await self.stop_worker()
        await self.dispatcher.close()
        if _current is self:
            set_event_dispatcher(None)
            set_queue(None)
            _current = None
        await self.queue.disconnect()
        await LOCKS.close()

    async def ready(self) -> bool:
        """Is the queue reachable (for /ready)?"""
        try:
            async with asyncio.timeout(2):
                if is_redis(self.queue):
                    await self.queue.redis.ping()  # type: ignore[attr-defined]
                else:
                    await self._ping_queue_database()
        except Exception:
            return False
        return True

    async def _ping_queue_database(self) -> None:
        pool = self.queue.pool  # type: ignore[attr-defined]
        try:
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            # After a database restart the queue's idle connections are all dead (its pool does
            # not ping on checkout, see app/worker/queue.py); the one we took is discarded now.
            # Replace the rest, then ask once more: the database may well be back.
            await pool.check()
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")


def current() -> WorkerRuntime | None:
    return _current


def activate(runtime: WorkerRuntime) -> None:
    """Make runtime the one events and runs are enqueued on (tests swap backends with it)."""
    global _current
    set_queue(runtime.queue)
    set_event_dispatcher(runtime.dispatcher)
    _current = runtime


@asynccontextmanager
async def worker_lifespan(app: Litestar) -> AsyncIterator[None]:
    """The API's runtime: always dispatches events; works jobs when run_worker_in_api."""
    settings = get_settings()
    runtime = WorkerRuntime(
        build_queue(name=DEFAULT_QUEUE_NAME),
        settings=settings,
        run_worker=settings.run_worker_in_api,
    )
    await runtime.start()
    app.state.queue_ready = runtime.ready
    app.state.worker_runtime = runtime
    try:
        yield
    finally:
        await runtime.stop()


async def _refresh_gauges_forever(queue: Queue) -> None:
    """The standalone worker's queue gauges (its metrics server is a thread and cannot await)."""
    while True:
        await refresh_queue_gauges(queue)
        await asyncio.sleep(GAUGE_REFRESH_S)


async def _wait_for_database(engine: Any, settings: Settings) -> None:
    """Open the pool, waiting (not exiting) while the database is unreachable: a worker started
    or restarted during an outage works as soon as the database is back."""
    waiting = False
    while True:
        try:
            await engine.start_connection_pool(**pool_options(settings))
            break
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            if not waiting:
                log.warning("worker.waiting_for_database", error=repr(exc))
                waiting = True
            await asyncio.sleep(1.0)
    if waiting:
        log.info("worker.database_back")


def _quiet_about_outages(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """SAQ's own task for a job fails when the queue (Redis, or the queue's database) goes away
    under it (it cannot record the job's end); the job is retried once the queue is back. Such a
    failure is the outage, logged once by queue_lost; anything else goes to asyncio's usual
    handler."""
    exception = context.get("exception")
    if exception is not None and is_queue_unavailable(exception):
        queue_lost(exception)
        return
    loop.default_exception_handler(context)


async def run_standalone(*, queue_name: str = DEFAULT_QUEUE_NAME) -> None:
    """`crmflow worker`: work jobs until SIGTERM/SIGINT, then hand back what is in flight."""
    from app.core.uow import get_engine

    settings = get_settings()
    engine = get_engine()
    await _wait_for_database(engine, settings)
    asyncio.get_running_loop().set_exception_handler(_quiet_about_outages)
    runtime = WorkerRuntime(build_queue(name=queue_name), settings=settings, embedded=False)
    gauges: asyncio.Task[None] | None = None
    try:
        await runtime.connect()
        runtime.worker = runtime.make_worker()
        runtime.start_sweeper()
        port: int | None = None
        try:
            port = serve_metrics(host=settings.host, port=settings.worker_metrics_port)
        except OSError as exc:
            # A second worker on the same host with the same port: work anyway, say so.
            log.warning("worker.metrics_port_unavailable", error=str(exc))
        gauges = asyncio.create_task(_refresh_gauges_forever(runtime.queue))
        log.info(
            "worker.started",
            queue=queue_name,
            backend=type(runtime.queue).__name__,
            metrics_port=port,
        )
        # SAQ's own signal handlers stop it on SIGTERM/SIGINT; start() returns after stop().
        await runtime.worker.start()
    finally:
        if gauges is not None:
            gauges.cancel()
        await runtime.stop()
        await engine.close_connection_pool()
        log.info("worker.stopped", queue=queue_name)
