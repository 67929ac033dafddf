"""HTTP: /api/v1/events — post a custom event (idempotent), list events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, QueryParameter

from app.clients.listing import AuthRequest, CreatedSort, Cursor, Limit, Sort, reject_unknown_query
from app.core.errors import error_responses
from app.core.pagination import DEFAULT_LIMIT
from app.core.uow import unit_of_work
from app.events import queries
from app.events.schemas import EventCreate, EventOut, EventPage


class EventController(Controller):
    path = "/events"
    tags = ["events"]
    before_request = staticmethod(reject_unknown_query)

    @post(
        "/",
        summary="Post a custom event (201 new; 200 with the first event for a repeated key)",
        responses={
            200: ResponseSpec(
                data_container=EventOut,
                description="An event with this idempotency key already exists; it is returned",
            ),
            **error_responses(404),
        },
    )
    async def post_event(
        self,
        request: AuthRequest,
        data: JSONBody[EventCreate],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                description="Same key twice: one event",
                max_length=200,
                min_length=1,
            ),
        ] = None,
    ) -> Response[EventOut]:
        p = request.user
        async with unit_of_work():
            event, created = await queries.post_custom_event(
                tenant_id=p.tenant_id, actor_id=p.user_id, data=data, header_key=idempotency_key
            )
        return Response(event, status_code=201 if created else 200)

    @get("/", summary="List events", responses=error_responses())
    async def list_events(
        self,
        request: AuthRequest,
        type: Annotated[str | None, QueryParameter(max_length=100)] = None,
        client: Annotated[UUID | None, QueryParameter(description="Client id")] = None,
        created_after: Annotated[datetime | None, QueryParameter()] = None,
        created_before: Annotated[datetime | None, QueryParameter()] = None,
        sort: Sort = CreatedSort.CREATED_AT_DESC,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> EventPage:
        return await queries.list_events(
            tenant_id=request.user.tenant_id,
            type=type,
            client_id=client,
            created_after=created_after,
            created_before=created_before,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
