"""Unit of work: the caller owns the transaction; work reaches the queue only after the commit.

Services never commit. The request layer (`TransactionMiddleware`, on every writing route) or a
job wraps the work in `unit_of_work()`; services hand over event ids with `after_commit(...)` (the
outbox) and any other job with `enqueue_after_commit(...)`. Both are held until the transaction
commits: on a rollback nothing is enqueued; if the process dies between commit and enqueue, the
sweeps find the undispatched events, the due executions and the approved emails.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

log = logging.getLogger(__name__)

EventDispatcher = Callable[[list[UUID]], Awaitable[None]]
Enqueue = Callable[[], Awaitable[object] | object]


@dataclass
class _Pending:
    """What a unit of work hands to the queue once it commits."""

    events: list[UUID] = field(default_factory=list)
    jobs: list[Enqueue] = field(default_factory=list)


_dispatcher: EventDispatcher | None = None
_pending: ContextVar[_Pending | None] = ContextVar("crmflow_pending_work", default=None)
# Rows whose INSERT waits for the unit of work's end (or the next statement that reads their
# table): statement template -> rows. See defer_insert().
_deferred: ContextVar[dict[str, list[tuple[Any, ...]]] | None] = ContextVar(
    "crmflow_deferred_rows", default=None
)
# Tables whose rows may be deferred; a statement naming one flushes them first (sql.fetch).
DEFERRED_TABLES = re.compile(r"\b(events|audit_logs)\b")


def set_event_dispatcher(dispatcher: EventDispatcher | None) -> None:
    """Install the function that enqueues committed events (the worker runtime sets it)."""
    global _dispatcher
    _dispatcher = dispatcher


def get_engine() -> PostgresEngine:
    engine = engine_finder()
    if not isinstance(engine, PostgresEngine):
        raise RuntimeError("piccolo_conf.DB must be a PostgresEngine")
    return engine


def _current() -> _Pending:
    pending = _pending.get()
    if pending is None:
        raise RuntimeError("work for the queue handed over outside unit_of_work()")
    return pending


def after_commit(event_id: UUID) -> None:
    """Enqueue this event once the surrounding unit of work commits."""
    _current().events.append(event_id)


def enqueue_after_commit(enqueue: Enqueue) -> None:
    """Call enqueue (it puts one job on the queue) once the surrounding unit of work commits.

    A job enqueued before the commit could run before its rows are visible; one enqueued after
    a rollback would act on rows that never existed. Failures are logged, never raised: every
    job has a sweep that finds its work if the enqueue is lost.
    """
    _current().jobs.append(enqueue)


def call_after_commit(action: Enqueue) -> None:
    """Run action (e.g. remove a deleted row's file) once the unit of work commits."""
    _current().jobs.append(action)


def defer_insert(statement: str, row: tuple[Any, ...]) -> bool:
    """Queue one row for `statement` (an INSERT ... SELECT FROM unnest({0}, {1}, ...) whose
    `{i}` are the typed array parameters); False outside a unit of work (then run it now).

    All queued rows go to the database together, as one statement, just before the unit of work
    commits — or earlier, before any statement that reads their table — so the change, its event
    and its audit row cost one round trip more than the change alone, whatever their number.
    """
    buffer = _deferred.get()
    if buffer is None:
        return False
    buffer.setdefault(statement, []).append(row)
    return True


def has_deferred() -> bool:
    return bool(_deferred.get())


async def flush_deferred(connection: Any) -> None:
    """Write every queued row now: one statement (one CTE per template), one round trip."""
    buffer = _deferred.get()
    if not buffer:
        return
    parts: list[str] = []
    args: list[Any] = []
    for n, (statement, rows) in enumerate(buffer.items()):
        columns = [list(c) for c in zip(*rows, strict=True)]
        params = [f"${len(args) + i + 1}" for i in range(len(columns))]
        parts.append(f"d{n} AS ({statement.format(*params)})")
        args += columns
    buffer.clear()
    await connection.execute(f"WITH {', '.join(parts)} SELECT 1", *args)


async def dispatch_now(event_ids: list[UUID]) -> None:
    """Enqueue committed events; failures are left to the sweep, never raised to the caller."""
    if not event_ids or _dispatcher is None:
        return
    try:
        await _dispatcher(event_ids)
    except Exception:
        log.exception("enqueue of %d events failed; the dispatch sweep will retry", len(event_ids))


async def _run_jobs(jobs: list[Enqueue]) -> None:
    for enqueue in jobs:
        try:
            result = enqueue()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("enqueue after commit failed; the job's sweep will find the work")


@asynccontextmanager
async def unit_of_work() -> AsyncIterator[None]:
    """One transaction; events and jobs handed over inside are enqueued after it commits."""
    outer = _pending.get()
    if outer is not None:
        # Nested: join the outer unit of work (its commit is ours).
        async with get_engine().transaction():
            yield
        return
    pending = _Pending()
    token = _pending.set(pending)
    deferred_token = _deferred.set({})
    try:
        async with get_engine().transaction() as transaction:
            yield
            await flush_deferred(transaction.connection)
    finally:
        _deferred.reset(deferred_token)
        _pending.reset(token)
    await dispatch_now(pending.events)
    await _run_jobs(pending.jobs)


@contextmanager
def no_inherited_work() -> Iterator[None]:
    """Run the block outside any transaction or unit of work it may have inherited.

    For the start of a request (see app/core/request_context.py: FreshRequestState): the state a
    unit of work keeps lives in context variables, and a server may start a request in a context
    captured inside an earlier request's unit of work, long finished.
    """
    engine = get_engine()
    tokens = (
        engine.current_transaction.set(None),
        _pending.set(None),
        _deferred.set(None),
    )
    try:
        yield
    finally:
        _deferred.reset(tokens[2])
        _pending.reset(tokens[1])
        engine.current_transaction.reset(tokens[0])


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _ErrorAnswer(Exception):
    """Raised inside the request's unit of work to roll back a write that answered an error."""


class TransactionMiddleware:
    """The request's transaction: every writing route runs in one unit of work.

    The handler's response is held until the commit, so a client never sees a 2xx for a write
    that then fails to commit (or a job that runs before the rows it needs are visible). An
    error answer (4xx/5xx) rolls the transaction back: a refused write commits nothing, not
    even part of itself. Reads (GET/HEAD) run outside any transaction.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            async with unit_of_work():
                await self.app(scope, receive, hold)
                if held and int(held[0].get("status", 200)) >= 400:  # type: ignore[call-overload]
                    raise _ErrorAnswer
        except _ErrorAnswer:
            pass
        for message in held:
            await send(message)
