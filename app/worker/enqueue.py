"""Putting work on the queue from anywhere in the app (engine, controllers), after commit.

The runtime installs the connected queue here; with no queue (a script, a test without the app)
nothing is enqueued and the periodic sweeps pick the work up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import structlog
from saq import Queue

from app.worker.queue import JOB_OPTIONS

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


async def enqueue_run(execution_id: UUID, *, at: datetime | None = None, key: str = "") -> bool:
    """Run (or resume at `at`) one execution. False when no queue could take it."""
    if _queue is None:
        return False
    options: dict[str, Any] = dict(JOB_OPTIONS)
    if at is not None:
        options["scheduled"] = int(at.timestamp()) + 1
    try:
        await _queue.enqueue(
            "engine.run_execution",
            key=key or f"run:{execution_id}",
            execution_id=str(execution_id),
            **options,
        )
    except Exception:
        # The recovery sweep finds the execution anyway; never fail the caller's request.
        log.exception("worker.enqueue_failed", execution_id=str(execution_id))
        return False
    return True
