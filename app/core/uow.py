"""Unit of work: the caller owns the transaction; jobs it creates are enqueued only after commit.

Services never commit. A request handler or a job wraps its work in `unit_of_work()`; services
call `after_commit(...)` to hand over event ids (the outbox). If the transaction rolls back,
nothing is enqueued; if the process dies between commit and enqueue, the dispatch sweep finds the
undispatched events.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from uuid import UUID

from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

log = logging.getLogger(__name__)

EventDispatcher = Callable[[list[UUID]], Awaitable[None]]

_dispatcher: EventDispatcher | None = None
_pending: ContextVar[list[UUID] | None] = ContextVar("crmflow_pending_events", default=None)


def set_event_dispatcher(dispatcher: EventDispatcher | None) -> None:
    """Install the function that enqueues committed events (the worker runtime sets it)."""
    global _dispatcher
    _dispatcher = dispatcher


def get_engine() -> PostgresEngine:
    engine = engine_finder()
    if not isinstance(engine, PostgresEngine):
        raise RuntimeError("piccolo_conf.DB must be a PostgresEngine")
    return engine


def after_commit(event_id: UUID) -> None:
    """Enqueue this event once the surrounding unit of work commits."""
    pending = _pending.get()
    if pending is None:
        raise RuntimeError("after_commit() called outside unit_of_work()")
    pending.append(event_id)


async def dispatch_now(event_ids: list[UUID]) -> None:
    """Enqueue committed events; failures are left to the sweep, never raised to the caller."""
    if not event_ids or _dispatcher is None:
        return
    try:
        await _dispatcher(event_ids)
    except Exception:
        log.exception("enqueue of %d events failed; the dispatch sweep will retry", len(event_ids))


@asynccontextmanager
async def unit_of_work() -> AsyncIterator[None]:
    """One transaction; events recorded inside are dispatched after it commits."""
    outer = _pending.get()
    if outer is not None:
        # Nested: join the outer unit of work (its commit is ours).
        async with get_engine().transaction():
            yield
        return
    pending: list[UUID] = []
    token = _pending.set(pending)
    try:
        async with get_engine().transaction():
            yield
    finally:
        _pending.reset(token)
    await dispatch_now(pending)
