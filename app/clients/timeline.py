"""One client's timeline: its events, executions, tasks, notes, emails and documents, newest first.

Read through each feature's own listing service (the same queries as their /api/v1 lists), so
the timeline shows exactly what the API shows, tenant checks included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.params import PathParameter, QueryParameter

from app.clients.service import get_client
from app.core.errors import error_responses
from app.core.listing import AuthRequest, PageQuery
from app.documents.schemas import DocumentOut
from app.documents.service import list_documents
from app.emails.schemas import EmailOut
from app.emails.service import list_emails
from app.events.queries import list_events
from app.events.schemas import EventOut
from app.executions.schemas import ExecutionOut
from app.executions.service import list_executions
from app.notes.schemas import NoteOut
from app.notes.service import list_notes
from app.tasks.schemas import TaskFilters, TaskOut
from app.tasks.service import list_tasks

Kind = Literal["event", "execution", "task", "note", "email", "document"]
DEFAULT_EACH = 50
MAX_EACH = 200


class TimelineEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One item; exactly the field named by `kind` is set."""

    kind: Kind
    at: datetime
    event: EventOut | None = None
    execution: ExecutionOut | None = None
    task: TaskOut | None = None
    note: NoteOut | None = None
    email: EmailOut | None = None
    document: DocumentOut | None = None

    @property
    def item(self) -> object:
        return getattr(self, self.kind)


class Timeline(msgspec.Struct, kw_only=True):
    client_id: UUID
    # The newest `each` of every kind, merged newest first.
    items: list[TimelineEntry]


async def client_timeline(
    *, tenant_id: UUID, client_id: UUID, each: int = DEFAULT_EACH
) -> Timeline:
    """The client's recent history across features; 404 for another tenant's client."""
    await get_client(tenant_id=tenant_id, client_id=client_id)
    latest = PageQuery(limit=each)
    events = await list_events(
        tenant_id=tenant_id,
        type=None,
        client_id=client_id,
        created_after=None,
        created_before=None,
        page=latest,
    )
    executions = await list_executions(tenant_id=tenant_id, client_id=client_id, page=latest)
    tasks = await list_tasks(
        tenant_id=tenant_id, filters=TaskFilters(client=client_id), page=latest
    )
    notes = await list_notes(tenant_id=tenant_id, client_id=client_id, page=latest)
    emails = await list_emails(tenant_id=tenant_id, client_id=client_id, page=latest)
    documents = await list_documents(tenant_id=tenant_id, client_id=client_id, page=latest)
    items = [
        *(TimelineEntry(kind="event", at=e.created_at, event=e) for e in events.items),
        *(TimelineEntry(kind="execution", at=x.created_at, execution=x) for x in executions.items),
        *(TimelineEntry(kind="task", at=t.created_at, task=t) for t in tasks.items),
        *(TimelineEntry(kind="note", at=n.created_at, note=n) for n in notes.items),
        *(TimelineEntry(kind="email", at=m.created_at, email=m) for m in emails.items),
        *(TimelineEntry(kind="document", at=d.created_at, document=d) for d in documents.items),
    ]
    items.sort(key=lambda entry: entry.at, reverse=True)
    return Timeline(client_id=client_id, items=items)


class ClientTimelineController(Controller):
    path = "/clients/{client_id:uuid}/timeline"
    tags = ["clients"]

    @get(
        "/",
        summary="The client's events, executions, tasks, notes, emails and documents, newest first",
        responses=error_responses(404),
    )
    async def timeline(
        self,
        request: AuthRequest,
        client_id: Annotated[UUID, PathParameter(description="The client's id")],
        each: Annotated[
            int,
            QueryParameter(ge=1, le=MAX_EACH, description="How many of each kind (newest)"),
        ] = DEFAULT_EACH,
    ) -> Timeline:
        return await client_timeline(
            tenant_id=request.user.tenant_id, client_id=client_id, each=each
        )
