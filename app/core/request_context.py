"""Who is acting in the current request or job, for the audit trail.

Set once by the authentication middleware (or a job wrapper); read by services that audit.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from app.core.uow import no_inherited_work


@dataclass(frozen=True, slots=True)
class Actor:
    tenant_id: UUID | None = None
    user_id: UUID | None = None
    api_key_id: UUID | None = None
    ip: str | None = None
    user_agent: str | None = None


_NOBODY = Actor()
_actor: ContextVar[Actor | None] = ContextVar("crmflow_actor", default=None)


def set_actor(actor: Actor) -> None:
    _actor.set(actor)
    if actor.tenant_id is not None:
        # Every following log line of this request or job names the tenant.
        from app.core.logging import bind_log_context

        bind_log_context(tenant_id=str(actor.tenant_id))


def current_actor() -> Actor:
    return _actor.get() or _NOBODY


class FreshRequestState:
    """Outermost ASGI layer: every request starts with no actor, transaction or pending work.

    An asyncio server runs a keep-alive connection's next request in the context its reader
    callback was registered in, and uvicorn registers that callback again from inside a request
    whenever a large body pauses and resumes reading — that is, inside the request's unit of
    work. Without this layer the next request on the connection inherits that unit of work's
    transaction after it has ended (asyncpg: "connection has been released back to the pool")
    and the previous request's actor (tests/core/test_request_context.py).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = _actor.set(None)
        try:
            with no_inherited_work():
                await self.app(scope, receive, send)
        finally:
            _actor.reset(token)
