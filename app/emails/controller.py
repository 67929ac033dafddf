"""HTTP: /api/v1/emails. Any member of the tenant may review, approve and reject drafts."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from app.core.errors import error_responses
from app.core.listing import AuthRequest, ClientFilter, Paging
from app.emails import service
from app.emails.schemas import EmailDecide, EmailDecisions, EmailOut, EmailPage, EmailResend
from tables.enums import EmailStatus


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
        page: Paging,
        status: Annotated[EmailStatus | None, QueryParameter()] = None,
        client: ClientFilter = None,
    ) -> EmailPage:
        return await service.list_emails(
            tenant_id=request.user.tenant_id, status=status, client_id=client, page=page
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
        return await service.approve_email(
            tenant_id=p.tenant_id, email_id=email_id, actor_id=p.user_id
        )

    @post(
        "/{email_id:uuid}/reject",
        summary="Reject a draft: it is never sent",
        status_code=200,
        responses=error_responses(404, 409),
    )
    async def reject_email(self, request: AuthRequest, email_id: FromPath[UUID]) -> EmailOut:
        p = request.user
        return await service.reject_email(
            tenant_id=p.tenant_id, email_id=email_id, actor_id=p.user_id
        )

    @post(
        "/decide",
        summary="Approve or reject a selection of drafts (at most 200)",
        description=(
            "Every DRAFT named is decided; the others (already decided, unknown, another "
            "tenant's, an invalid recipient for approval) are listed in `skipped` with the reason. "
            "Each decision is audited like its single twin."
        ),
        status_code=200,
        responses=error_responses(),
    )
    async def decide_emails(
        self, request: AuthRequest, data: JSONBody[EmailDecide]
    ) -> EmailDecisions:
        p = request.user
        result = await service.decide_emails(
            tenant_id=p.tenant_id, actor_id=p.user_id, ids=data.ids, action=data.action
        )
        return result

    @post(
        "/{email_id:uuid}/resend",
        summary="Send a FAILED email again (a person's decision; never automatic)",
        description=(
            "FAILED → APPROVED with a fresh attempt budget; delivery is queued. When the last "
            "attempt's outcome is unknown (it may have arrived), send "
            '`{"confirm_possibly_delivered": true}` or get a 409 naming the Message-ID to check.'
        ),
        status_code=200,
        responses=error_responses(404, 409),
    )
    async def resend_email(
        self,
        request: AuthRequest,
        email_id: FromPath[UUID],
        data: JSONBody[EmailResend | None] = None,
    ) -> EmailOut:
        p = request.user
        email = await service.resend_email(
            tenant_id=p.tenant_id,
            email_id=email_id,
            actor_id=p.user_id,
            confirm_possibly_delivered=bool(data and data.confirm_possibly_delivered),
        )
        return email
