"""A short-lived, per-process cache of API key (hash) → principal, emptied at once on revocation.

Authenticating a key costs a database round trip on every request; a key's principal changes
only when the key is revoked or its user deactivated, demoted or deleted. Those writes call
`auth_changed()` in their transaction: it empties this process's cache and sends
`NOTIFY crmflow_auth`, which every API process LISTENs to (on a connection of its own) and
answers by emptying its cache — at the revoking transaction's commit, not after a TTL.

Safety nets: entries live at most TTL_S seconds; while the listening connection is down (or was
never opened, e.g. a script) the cache answers nothing, so a missed notification can never keep
a revoked key alive; and a lookup that raced a clear (its read began before the clear) is not
stored (`generation`).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from app.core.sql import fetch

if TYPE_CHECKING:
    from app.core.auth import Principal

log = structlog.get_logger("crmflow.auth")

CHANNEL = "crmflow_auth"
TTL_S = 10.0
MAX_ENTRIES = 10_000


class PrincipalCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._conn: asyncpg.Connection | None = None
        self._dsn: str | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._last_attempt = 0.0
        # Bumped by every clear: a lookup that started before a clear must not be stored.
        self.generation = 0

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def get(self, key_hash: str) -> Principal | None:
        if not self.listening:
            self._maybe_reconnect()
            return None
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(key_hash, None)
            return None
        return entry[1]

    def put(self, key_hash: str, principal: Principal, generation: int) -> None:
        if not self.listening or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic() + TTL_S, principal)

    def clear(self, *_: Any) -> None:
        self._entries.clear()
        self.generation += 1

    def _maybe_reconnect(self) -> None:
        """After a lost connection (database restart), listen again — at most every 5 s."""
        if self._dsn is None or (self._reconnect is not None and not self._reconnect.done()):
            return
        if time.monotonic() - self._last_attempt < 5.0:
            return
        self._reconnect = asyncio.get_running_loop().create_task(self.start(self._dsn))

    async def start(self, dsn: str) -> None:
        """Listen for revocations; until this succeeds the cache stays empty."""
        self._dsn = dsn
        self._last_attempt = time.monotonic()
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
            await conn.add_listener(CHANNEL, self.clear)
            conn.add_termination_listener(self._lost)
        except Exception as exc:
            log.warning("auth.cache_disabled", error=repr(exc))
            return
        self.clear()
        self._conn = conn

    def _lost(self, *_: Any) -> None:
        # No notifications from now on: answer nothing from the cache.
        self._conn = None
        self.clear()

    async def stop(self) -> None:
        self._dsn = None
        if self._reconnect is not None:
            self._reconnect.cancel()
        conn, self._conn = self._conn, None
        self.clear()
        if conn is not None and not conn.is_closed():
            await conn.close()


CACHE = PrincipalCache()


async def auth_changed() -> None:
    """A key or user changed in a way that affects authentication: call in its transaction."""
    CACHE.clear()
    await fetch("SELECT pg_notify($1, '')", CHANNEL)


__all__ = ["CACHE", "CHANNEL", "PrincipalCache", "auth_changed"]
