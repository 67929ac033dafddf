"""HTTP: /api/v1/clients."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from app.clients import batch, service
from app.clients.schemas import (
    ClientBatch,
    ClientBatchOut,
    ClientCreate,
    ClientFilters,
    ClientOut,
    ClientPage,
    ClientSort,
    ClientUpdate,
    TagBody,
)
from app.core.errors import error_responses
from app.core.listing import AuthRequest, CreatedAfter, CreatedBefore, Paging, page_dependency
from tables.enums import ClientStatus

ClientStatusParam = ClientStatus | None


class ClientController(Controller):
    path = "/clients"
    tags = ["clients"]
    dependencies = {"page": page_dependency(ClientSort)}

    @post("/", summary="Create a client", responses=error_responses(409))
    async def create_client(self, request: AuthRequest, data: JSONBody[ClientCreate]) -> ClientOut:
        p = request.user
        snap = await service.create_client(tenant_id=p.tenant_id, actor_id=p.user_id, data=data)
        return service.to_out(snap)

    @post(
        "/batch",
        summary="Create or update up to 1,000 clients by external id (one transaction)",
        description=(
            "The way a CRM syncs. Each item is created when its `external_id` is new (as POST "
            "/clients: `name` required, CLIENT_CREATED written) or else changed (as PATCH "
            "/clients/{id}: a status change writes CLIENT_STATUS_CHANGED), with the same "
            "validation and audit as those routes. All items commit together in one "
            "transaction, or none: any invalid item answers 422 naming `$.items[i].field` of "
            "every bad item. The answer lists one result per item, in order."
        ),
        status_code=200,
        responses=error_responses(409),
    )
    async def upsert_clients(
        self, request: AuthRequest, data: JSONBody[ClientBatch]
    ) -> ClientBatchOut:
        p = request.user
        results = await batch.upsert_clients(
            tenant_id=p.tenant_id, actor_id=p.user_id, items=data.items
        )
        return ClientBatchOut(items=results)

    @get("/", summary="List clients (filters, sort, cursor pages)", responses=error_responses())
    async def list_clients(
        self,
        request: AuthRequest,
        page: Paging,
        status: Annotated[ClientStatusParam, QueryParameter()] = None,
        tag: Annotated[
            list[str] | None,
            QueryParameter(description="Repeat to require several tags (all must match)"),
        ] = None,
        owner: Annotated[UUID | None, QueryParameter(description="Owner user id")] = None,
        q: Annotated[
            str | None,
            QueryParameter(description="Search in name, email and company", max_length=200),
        ] = None,
        created_after: CreatedAfter = None,
        created_before: CreatedBefore = None,
    ) -> ClientPage:
        filters = ClientFilters(
            status=status,
            tags=tag or [],
            owner=owner,
            q=q,
            created_after=created_after,
            created_before=created_before,
        )
        return await service.list_clients(
            tenant_id=request.user.tenant_id, filters=filters, page=page
        )

    @get("/{client_id:uuid}", summary="Get a client", responses=error_responses(404))
    async def get_client(self, request: AuthRequest, client_id: FromPath[UUID]) -> ClientOut:
        snap = await service.get_client(tenant_id=request.user.tenant_id, client_id=client_id)
        return service.to_out(snap)

    @patch(
        "/{client_id:uuid}",
        summary="Change a client (a status change emits CLIENT_STATUS_CHANGED)",
        responses=error_responses(404),
    )
    async def update_client(
        self, request: AuthRequest, client_id: FromPath[UUID], data: JSONBody[ClientUpdate]
    ) -> ClientOut:
        p = request.user
        snap = await service.update_client(
            tenant_id=p.tenant_id, client_id=client_id, changes=data, actor_id=p.user_id
        )
        return service.to_out(snap)

    @delete(
        "/{client_id:uuid}",
        summary="Delete a client with its documents, notes and tasks",
        responses=error_responses(404),
    )
    async def delete_client(self, request: AuthRequest, client_id: FromPath[UUID]) -> None:
        await service.delete_client(tenant_id=request.user.tenant_id, client_id=client_id)

    @post("/{client_id:uuid}/tags", summary="Add a tag", responses=error_responses(404))
    async def add_tag(
        self, request: AuthRequest, client_id: FromPath[UUID], data: JSONBody[TagBody]
    ) -> ClientOut:
        snap = await service.add_tag(
            tenant_id=request.user.tenant_id, client_id=client_id, tag=data.tag
        )
        return service.to_out(snap)

    @delete(
        "/{client_id:uuid}/tags/{tag:str}",
        summary="Remove a tag",
        responses=error_responses(404),
        status_code=200,
    )
    async def remove_tag(
        self, request: AuthRequest, client_id: FromPath[UUID], tag: FromPath[str]
    ) -> ClientOut:
        snap = await service.remove_tag(
            tenant_id=request.user.tenant_id, client_id=client_id, tag=tag
        )
        return service.to_out(snap)


__all__ = ["ClientController"]
