"""Who is acting in the current request or job, for the audit trail.

Set once by the authentication middleware (or a job wrapper); read by services that audit.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID


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
