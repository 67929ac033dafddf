"""HTTP: /api/v1/users (admins only)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from app.core.auth import admin_only
from app.core.errors import error_responses
from app.core.listing import AuthRequest, Paging
from app.users import service
from app.users.schemas import UserCreate, UserOut, UserPage, UserUpdate
from tables.enums import Role


class UserController(Controller):
    path = "/users"
    tags = ["users"]
    guards = [admin_only]

    @post("/", summary="Add a user", responses=error_responses(403, 409))
    async def create_user(self, request: AuthRequest, data: JSONBody[UserCreate]) -> UserOut:
        return await service.create_user(tenant_id=request.user.tenant_id, data=data)

    @get("/", summary="List users", responses=error_responses(403))
    async def list_users(
        self,
        request: AuthRequest,
        page: Paging,
        role: Annotated[Role | None, QueryParameter()] = None,
        is_active: Annotated[bool | None, QueryParameter()] = None,
    ) -> UserPage:
        return await service.list_users(
            tenant_id=request.user.tenant_id, role=role, is_active=is_active, page=page
        )

    @get("/{user_id:uuid}", summary="Get a user", responses=error_responses(403, 404))
    async def get_user(self, request: AuthRequest, user_id: FromPath[UUID]) -> UserOut:
        return await service.get_user(tenant_id=request.user.tenant_id, user_id=user_id)

    @patch(
        "/{user_id:uuid}",
        summary="Rename, change role, (de)activate",
        responses=error_responses(403, 404, 409),
    )
    async def update_user(
        self, request: AuthRequest, user_id: FromPath[UUID], data: JSONBody[UserUpdate]
    ) -> UserOut:
        p = request.user
        return await service.update_user(
            tenant_id=p.tenant_id, user_id=user_id, actor_id=p.user_id, changes=data
        )

    @delete(
        "/{user_id:uuid}",
        summary="Delete a user and their API keys",
        responses=error_responses(403, 404, 409),
    )
    async def delete_user(self, request: AuthRequest, user_id: FromPath[UUID]) -> None:
        p = request.user
        await service.delete_user(tenant_id=p.tenant_id, user_id=user_id, actor_id=p.user_id)
