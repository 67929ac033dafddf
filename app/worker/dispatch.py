"""The after-commit event dispatcher: committed event ids → SAQ jobs, batched.

Requests hand their ids over without waiting for the queue; a flusher coalesces whatever has
arrived meanwhile into one job (up to MAX_BATCH events), so a busy API pays one enqueue per batch,
not per event. Ids lost to a crash between commit and enqueue stay undispatched in the outbox and
the dispatch sweep enqueues them.
"""

from __future__ import annotations

import asyncio
import time
from uuid import UUID

import structlog

from app.worker.enqueue import enqueue_events

log = structlog.get_logger("crmflow.worker")

MAX_BATCH = 100
# How long the first id of a batch waits for company: small next to the event→completed target
# (250 ms), long enough that a busy API pays one queue job per handful of events (bench.py).
LINGER_S = 0.01
# While the queue (or the database under it) is down every flush fails: say so once in a while,
# with the count, not once per request.
WARN_EVERY_S = 30.0


class EventDispatcher:
    def __init__(self, *, max_batch: int = MAX_BATCH, linger_s: float = LINGER_S) -> None:
        self._buffer: list[UUID] = []
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._flusher: asyncio.Task[None] | None = None
        self._unreported = 0
        self._last_warning = float("-inf")

    async def __call__(self, event_ids: list[UUID]) -> None:
        self._buffer.extend(event_ids)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self._linger_s)
        await self.flush()

    async def flush(self) -> None:
        while self._buffer:
            batch = self._buffer[: self._max_batch]
            del self._buffer[: self._max_batch]
            try:
                await enqueue_events(batch)
            except Exception as exc:
                # The events stay undispatched in the outbox: the dispatch sweep enqueues them.
                self._unreported += len(batch)
                now = time.monotonic()
                if now - self._last_warning >= WARN_EVERY_S:
                    log.warning(
                        "worker.dispatch_failed",
                        events=self._unreported,
                        error=repr(exc),
                        next_report_in_s=WARN_EVERY_S,
                    )
                    self._last_warning = now
                    self._unreported = 0

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            await self._flusher
        await self.flush()
