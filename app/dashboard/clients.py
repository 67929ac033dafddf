"""Console: clients — search, and one client's page with its timeline."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get
from litestar.params import FromPath
from litestar.response import Template

from app.clients.schemas import ClientFilters
from app.clients.service import get_client, list_clients
from app.clients.timeline import client_timeline
from app.core.errors import UnprocessableError
from app.core.listing import PageQuery
from app.dashboard.context import DashRequest, Me, page
from app.dashboard.lookups import workflow_names
from app.events.queries import matches_by_event

PAGE_SIZE = 50
MAX_Q = 200
# Per kind, the newest this many: the timeline is a summary, each kind links to its full list.
TIMELINE_EACH = 50


class ClientPages(Controller):
    path = "/clients"

    @get("/", name="dash_clients")
    async def search(self, request: DashRequest, principal: Me) -> Template:
        q = (request.query_params.get("q") or "").strip()
        cursor = request.query_params.get("cursor") or None
        errors: list[dict[str, str]] = []
        items: list[object] = []
        next_cursor = None
        if len(q) > MAX_Q:
            errors.append({"path": "query.q", "message": f"At most {MAX_Q} characters."})
        else:
            try:
                result = await list_clients(
                    tenant_id=principal.tenant_id,
                    filters=ClientFilters(q=q or None),
                    page=PageQuery(cursor=cursor, limit=PAGE_SIZE),
                )
                items, next_cursor = list(result.items), result.next_cursor
            except UnprocessableError as exc:
                errors.extend({"path": e["path"], "message": e["message"]} for e in exc.errors)
        return page(
            "clients.html",
            request,
            principal,
            status_code=400 if errors else 200,
            q=q,
            items=items,
            next_cursor=next_cursor,
            errors=errors,
        )

    @get("/{client_id:uuid}", name="dash_client")
    async def detail(
        self, request: DashRequest, principal: Me, client_id: FromPath[UUID]
    ) -> Template:
        tenant_id = principal.tenant_id
        client = await get_client(tenant_id=tenant_id, client_id=client_id)
        # The same service as GET /api/v1/clients/{id}/timeline.
        entries = await client_timeline(
            tenant_id=tenant_id, client_id=client_id, each=TIMELINE_EACH
        )
        timeline = [(e.kind, e.at, e.item) for e in entries.items]
        # Why each event ran its workflows or did not: the service behind /events/{id}/matches.
        event_ids = [e.event.id for e in entries.items if e.event is not None]
        why = await matches_by_event(tenant_id=tenant_id, event_ids=event_ids)
        return page(
            "client.html",
            request,
            principal,
            c=client,
            timeline=timeline,
            why=why,
            names=await workflow_names(tenant_id),
        )
