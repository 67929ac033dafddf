"""HTTP: /api/v1/api-keys (admins only)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from app.api_keys import service
from app.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyPage
from app.core.auth import admin_only
from app.core.errors import error_responses
from app.core.listing import AuthRequest, Paging


class ApiKeyController(Controller):
    path = "/api-keys"
    tags = ["api-keys"]
    guards = [admin_only]

    @post(
        "/", summary="Issue a key (the key is in this answer only)", responses=error_responses(403)
    )
    async def create_api_key(
        self, request: AuthRequest, data: JSONBody[ApiKeyCreate]
    ) -> ApiKeyCreated:
        p = request.user
        return await service.create_api_key(tenant_id=p.tenant_id, actor_id=p.user_id, data=data)

    @get("/", summary="List keys (prefix, last use, revocation)", responses=error_responses(403))
    async def list_api_keys(
        self,
        request: AuthRequest,
        page: Paging,
        user: Annotated[UUID | None, QueryParameter(description="Owner user id")] = None,
        revoked: Annotated[bool | None, QueryParameter()] = None,
    ) -> ApiKeyPage:
        return await service.list_api_keys(
            tenant_id=request.user.tenant_id, user_id=user, revoked=revoked, page=page
        )

    @get(
        "/{key_id:uuid}",
        summary="Get a key (never the secret)",
        responses=error_responses(403, 404),
    )
    async def get_api_key(self, request: AuthRequest, key_id: FromPath[UUID]) -> ApiKeyOut:
        return await service.get_api_key(tenant_id=request.user.tenant_id, key_id=key_id)

    @post(
        "/{key_id:uuid}/revoke",
        summary="Revoke a key",
        responses=error_responses(403, 404),
        status_code=200,
    )
    async def revoke_api_key(self, request: AuthRequest, key_id: FromPath[UUID]) -> ApiKeyOut:
        return await service.revoke_api_key(tenant_id=request.user.tenant_id, key_id=key_id)
