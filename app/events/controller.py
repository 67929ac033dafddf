"""HTTP: /api/v1/events — post a custom event (idempotent), list, one event, its matches."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter

from app.core.errors import error_responses
from app.core.listing import AuthRequest, ClientFilter, CreatedAfter, CreatedBefore, Paging
from app.events import queries
from app.events.schemas import (
    EventBatch,
    EventBatchOut,
    EventCreate,
    EventMatches,
    EventOut,
    EventPage,
)

EventId = Annotated[UUID, PathParameter(description="The event's id")]


class EventController(Controller):
    path = "/events"
    tags = ["events"]

    @post(
        "/",
        summary="Post a custom event (201 new; 200 with the first event for a repeated key)",
        responses={
            200: ResponseSpec(
                data_container=EventOut,
                description="An event with this idempotency key already exists; it is returned",
            ),
            **error_responses(),
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
        event, created = await queries.post_custom_event(
            tenant_id=p.tenant_id, actor_id=p.user_id, data=data, header_key=idempotency_key
        )
        return Response(event, status_code=201 if created else 200)

    @post(
        "/batch",
        summary="Post up to 1,000 custom events (one transaction)",
        description=(
            "Each item as the body of POST /events, with its idempotency key in "
            "`idempotency_key`: the same validation and audit, one event per key (a repeated "
            "key, earlier or in this batch, answers `created: false` with the first event). "
            "All items commit together, or none: any invalid item answers 422 naming "
            "`$.items[i].field` of every bad item."
        ),
        status_code=200,
        responses=error_responses(),
    )
    async def post_events(self, request: AuthRequest, data: JSONBody[EventBatch]) -> EventBatchOut:
        p = request.user
        results = await queries.post_custom_events(
            tenant_id=p.tenant_id, actor_id=p.user_id, items=data.items
        )
        return EventBatchOut(items=results)

    @get("/", summary="List events", responses=error_responses())
    async def list_events(
        self,
        request: AuthRequest,
        page: Paging,
        type: Annotated[str | None, QueryParameter(max_length=100)] = None,
        client: ClientFilter = None,
        created_after: CreatedAfter = None,
        created_before: CreatedBefore = None,
    ) -> EventPage:
        return await queries.list_events(
            tenant_id=request.user.tenant_id,
            type=type,
            client_id=client,
            created_after=created_after,
            created_before=created_before,
            page=page,
        )

    @get("/{event_id:uuid}", summary="One event", responses=error_responses(404))
    async def get_event(self, request: AuthRequest, event_id: EventId) -> EventOut:
        return await queries.get_event(tenant_id=request.user.tenant_id, event_id=event_id)

    @get(
        "/{event_id:uuid}/matches",
        summary="Why each workflow ran for this event, or did not",
        description=(
            "The engine's decision for every workflow with the event's trigger type, recorded "
            "when it matched the event: matched or not, and the reason — the trigger_config key "
            "that differed, the first condition that failed (field, operator, the value seen), "
            "the loop guard, or an inactive workflow."
        ),
        responses=error_responses(404),
    )
    async def get_event_matches(self, request: AuthRequest, event_id: EventId) -> EventMatches:
        return await queries.get_event_matches(tenant_id=request.user.tenant_id, event_id=event_id)
