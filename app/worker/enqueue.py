"""Putting work on the queue from anywhere in the app (engine, controllers), after commit.

The runtime installs the connected queue here; with no queue (a script, a test without the app)
nothing is enqueued and the periodic sweeps pick the work up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import structlog
from saq import Queue
from saq.job import Status

from app.worker.queue import JOB_OPTIONS, is_queue_unavailable, queue_lost

log = structlog.get_logger("crmflow.worker")

F = TypeVar("F", bound=Callable[..., Any])

_queue: Queue | None = None


def job_name(name: str) -> Callable[[F], F]:
    """Name a job function `feature.verb`: SAQ keys functions (and cron jobs) by __qualname__."""

    def decorate(fn: F) -> F:
        fn.__qualname__ = name
        return fn

    return decorate


def set_queue(queue: Queue | None) -> None:
    global _queue
    _queue = queue


def get_queue() -> Queue | None:
    return _queue


async def enqueue_events(event_ids: list[UUID], *, key_prefix: str = "events") -> None:
    """One job for a batch of committed events; its key derives from the first event's id."""
    if _queue is None or not event_ids:
        return
    await _queue.enqueue(
        "engine.process_events",
        key=f"{key_prefix}:{event_ids[0]}",
        event_ids=[str(i) for i in event_ids],
        **JOB_OPTIONS,
    )


def run_job(execution_id: UUID, *, key: str = "") -> dict[str, Any]:
    """The key, argument and options of an `engine.run_execution` job."""
    return {"key": key or f"run:{execution_id}", "execution_id": str(execution_id), **JOB_OPTIONS}


async def enqueue_run(execution_id: UUID, *, at: datetime | None = None, key: str = "") -> bool:
    """Run (or resume at `at`) one execution. False when no queue could take it."""
    if _queue is None:
        return False
    options = run_job(execution_id, key=key)
    if at is not None:
        options["scheduled"] = int(at.timestamp()) + 1
    try:
        await _queue.enqueue("engine.run_execution", **options)
    except Exception as exc:
        # The recovery sweep finds the execution anyway; never fail the caller's request.
        if is_queue_unavailable(exc):
            queue_lost(exc)
        else:
            log.exception("worker.enqueue_failed", execution_id=str(execution_id))
        return False
    return True


# How many dead jobs in a row one enqueue steps past (each hop is one crashed worker).
_MAX_HOPS = 8


async def enqueue_past_dead(function: str, *, key: str, **kwargs: Any) -> bool:
    """Enqueue under key unless a job with it is still queued; step past a dead holder of key.

    For sweeps that already know nobody is working on the item (its advisory lock is free): a
    job with the key that is still *active* then belongs to a worker that died, and SAQ would
    refuse the key until its own stuck-job sweep frees it (minutes under repeated kills). The
    replacement's key is derived from the dead job's start time, so every sweep tick lands on
    the same replacement instead of piling up new ones. False when no queue could take it.
    """
    if _queue is None:
        return False
    try:
        for _ in range(_MAX_HOPS):
            if await _queue.enqueue(function, key=key, **kwargs) is not None:
                return True
            existing = await _queue.job(key)
            if existing is None:
                continue  # finished and expired meanwhile: try the key again
            if existing.status is Status.QUEUED:
                return True  # it will run
            key = f"{key.split('~', 1)[0]}~{existing.started or existing.queued}"
    except Exception as exc:
        if is_queue_unavailable(exc):
            queue_lost(exc)
        else:
            log.exception("worker.enqueue_failed", key=key)
        return False
    log.warning("worker.enqueue_gave_up", key=key)
    return False


# How many of a sweep's enqueues are in flight at once: a tick over a backlog of hundreds of
# items must end in seconds, or the next tick (which waits for it) is late.
SWEEP_ENQUEUE_CONCURRENCY = 16


async def enqueue_all_past_dead(function: str, jobs: Iterable[dict[str, Any]]) -> int:
    """enqueue_past_dead for each job's options (key included), a few at a time; how many are
    queued now.

    Under a backlog most items a sweep finds still have their job waiting in the queue: one
    lookup of every key first, and only the others cost an enqueue (the sweep must not add load
    in proportion to the backlog it is meant to clear).
    """
    wanted = [dict(options) for options in jobs]
    if _queue is None or not wanted:
        return 0
    try:
        existing = await _queue.jobs([options["key"] for options in wanted])
    except Exception as exc:
        if is_queue_unavailable(exc):
            queue_lost(exc)
        else:
            log.exception("worker.lookup_failed", jobs=len(wanted))
        return 0
    todo = [
        options
        for options, job in zip(wanted, existing, strict=True)
        if job is None or job.status is not Status.QUEUED
    ]
    gate = asyncio.Semaphore(SWEEP_ENQUEUE_CONCURRENCY)

    async def one(options: dict[str, Any]) -> bool:
        async with gate:
            return await enqueue_past_dead(function, **options)

    return len(wanted) - len(todo) + sum(await asyncio.gather(*(one(o) for o in todo)))
