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
from app.core.db import pool_options
from app.core.uow import set_event_dispatcher
from app.engine.locks import LOCKS
from app.worker.dispatch import EventDispatcher
from app.worker.enqueue import set_queue
from app.worker.queue import DEFAULT_QUEUE_NAME, build_queue, is_redis
from app.worker.registry import FUNCTIONS, cron_jobs

log = structlog.get_logger("crmflow.worker")

# SAQ logs every enqueue/dequeue at INFO; our hooks log each job once, with its duration.
logging.getLogger("saq").setLevel(logging.WARNING)

_current: WorkerRuntime | None = None
# SAQ's own sweep of stuck jobs (a dead worker's, past its heartbeat): every 10 s, not 60.
_TIMERS: PartialTimersDict = {"schedule": 1, "worker_info": 10, "sweep": 10, "abort": 1}


async def _before_process(ctx: dict[str, Any]) -> None:
    structlog.contextvars.clear_contextvars()
    job = ctx.get("job")
    ctx["started_at"] = time.perf_counter()
    if job is not None:
        structlog.contextvars.bind_contextvars(job_key=job.key, job_function=job.function)


async def _after_process(ctx: dict[str, Any]) -> None:
    job = ctx.get("job")
    started = ctx.get("started_at")
    duration_ms = None if started is None else round((time.perf_counter() - started) * 1000, 1)
    status = getattr(getattr(job, "status", None), "value", None)
    exception = ctx.get("exception")
    logger = log.warning if exception is not None else log.info
    logger(
        "worker.job_done",
        status=status,
        duration_ms=duration_ms,
        attempts=getattr(job, "attempts", None),
        error=None if exception is None else repr(exception),
    )
    structlog.contextvars.clear_contextvars()


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
        self._task: asyncio.Task[None] | None = None

    def make_worker(self) -> Worker[Any]:
        worker: Worker[Any] = Worker(
            self.queue,
            functions=FUNCTIONS,
            cron_jobs=cron_jobs(self.settings),
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

    async def stop_worker(self) -> None:
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
                    async with self.queue.pool.connection() as conn:  # type: ignore[attr-defined]
                        await conn.execute("SELECT 1")
        except Exception:
            return False
        return True


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


async def run_standalone(*, queue_name: str = DEFAULT_QUEUE_NAME) -> None:
    """`crmflow worker`: work jobs until SIGTERM/SIGINT, then hand back what is in flight."""
    from app.core.uow import get_engine

    settings = get_settings()
    engine = get_engine()
    await engine.start_connection_pool(**pool_options(settings))
    runtime = WorkerRuntime(build_queue(name=queue_name), settings=settings, embedded=False)
    try:
        await runtime.connect()
        runtime.worker = runtime.make_worker()
        log.info("worker.started", queue=queue_name, backend=type(runtime.queue).__name__)
        # SAQ's own signal handlers stop it on SIGTERM/SIGINT; start() returns after stop().
        await runtime.worker.start()
    finally:
        await runtime.stop()
        await engine.close_connection_pool()
        log.info("worker.stopped", queue=queue_name)
