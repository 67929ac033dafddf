"""HTTP: /api/v1/emails. Any member of the tenant may review, approve and reject drafts."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, QueryParameter

from app.core.auth import Principal
from app.core.errors import error_responses
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.core.uow import unit_of_work
from app.emails import service
from app.emails.jobs import enqueue_delivery
from app.emails.schemas import EmailOut, EmailPage
from tables.enums import EmailStatus

AuthRequest = Request[Principal, Any, Any]


class EmailController(Controller):
    path = "/emails"
    tags = ["emails"]

    @get(
        "/",
        summary="List emails (filter by status and client; cursor pages)",
        responses=error_responses(),
    )
    async def list_emails(
        self,
        request: AuthRequest,
        status: Annotated[EmailStatus | None, QueryParameter()] = None,
        client_id: Annotated[UUID | None, QueryParameter()] = None,
        cursor: Annotated[
            str | None,
            QueryParameter(description="`next_cursor` of the previous page", max_length=1000),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> EmailPage:
        return await service.list_emails(
            tenant_id=request.user.tenant_id,
            status=status,
            client_id=client_id,
            cursor=cursor,
            limit=limit,
        )

    @get("/{email_id:uuid}", summary="Get an email", responses=error_responses(404))
    async def get_email(self, request: AuthRequest, email_id: FromPath[UUID]) -> EmailOut:
        return await service.get_email(tenant_id=request.user.tenant_id, email_id=email_id)

    @post(
        "/{email_id:uuid}/approve",
        summary="Approve a draft: it is sent",
        status_code=200,
        responses=error_responses(404, 409),
    )
    async def approve_email(self, request: AuthRequest, email_id: FromPath[UUID]) -> EmailOut:
        p = request.user
        async with unit_of_work():
            email = await service.approve_email(
                tenant_id=p.tenant_id, email_id=email_id, actor_id=p.user_id
            )
        # After the commit: a job that ran earlier would not see the approval.
        await enqueue_delivery(email.id)
        return email

    @post(
        "/{email_id:uuid}/reject",
        summary="Reject a draft: it is never sent",
        status_code=200,
        responses=error_responses(404, 409),
    )
    async def reject_email(self, request: AuthRequest, email_id: FromPath[UUID]) -> EmailOut:
        p = request.user
        async with unit_of_work():
            return await service.reject_email(
                tenant_id=p.tenant_id, email_id=email_id, actor_id=p.user_id
            )
