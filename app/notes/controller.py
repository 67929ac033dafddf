"""HTTP: /api/v1/notes."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from app.core.errors import error_responses
from app.core.listing import AuthRequest, ClientFilter, Paging
from app.notes import service
from app.notes.schemas import NoteCreate, NoteOut, NotePage, NoteUpdate


class NoteController(Controller):
    path = "/notes"
    tags = ["notes"]

    @post("/", summary="Add a note to a client", responses=error_responses())
    async def create_note(self, request: AuthRequest, data: JSONBody[NoteCreate]) -> NoteOut:
        p = request.user
        return await service.add_note(
            tenant_id=p.tenant_id, client_id=data.client_id, body=data.body, author_id=p.user_id
        )

    @get("/", summary="List notes", responses=error_responses())
    async def list_notes(
        self, request: AuthRequest, page: Paging, client: ClientFilter = None
    ) -> NotePage:
        return await service.list_notes(
            tenant_id=request.user.tenant_id, client_id=client, page=page
        )

    @get("/{note_id:uuid}", summary="Get a note", responses=error_responses(404))
    async def get_note(self, request: AuthRequest, note_id: FromPath[UUID]) -> NoteOut:
        return await service.get_note(tenant_id=request.user.tenant_id, note_id=note_id)

    @patch("/{note_id:uuid}", summary="Edit a note", responses=error_responses(404))
    async def update_note(
        self, request: AuthRequest, note_id: FromPath[UUID], data: JSONBody[NoteUpdate]
    ) -> NoteOut:
        return await service.update_note(
            tenant_id=request.user.tenant_id, note_id=note_id, body=data.body
        )

    @delete("/{note_id:uuid}", summary="Delete a note", responses=error_responses(404))
    async def delete_note(self, request: AuthRequest, note_id: FromPath[UUID]) -> None:
        await service.delete_note(tenant_id=request.user.tenant_id, note_id=note_id)
