"""Console: one event — its data, and why each workflow ran for it or did not."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get
from litestar.params import FromPath
from litestar.response import Template

from app.dashboard.context import DashRequest, Me, page
from app.dashboard.executions import POLL_SECONDS, STOP_POLLING
from app.dashboard.lookups import client_names
from app.events.queries import get_event, get_event_matches


class EventPages(Controller):
    path = "/events"

    @get("/{event_id:uuid}", name="dash_event")
    async def detail(
        self, request: DashRequest, principal: Me, event_id: FromPath[UUID]
    ) -> Template:
        event = await get_event(tenant_id=principal.tenant_id, event_id=event_id)
        why = await get_event_matches(tenant_id=principal.tenant_id, event_id=event_id)
        # Live only until a worker has matched the event (then the decisions are final).
        live = why.dispatched_at is None
        is_htmx = bool(request.htmx)
        return page(
            "event_why.html" if is_htmx else "event.html",
            request,
            principal,
            status_code=STOP_POLLING if is_htmx and not live else 200,
            ev=event,
            clients=await client_names(principal.tenant_id, [event.client_id]),
            why=why,
            live=live,
            poll_seconds=POLL_SECONDS,
        )
