"""Console: email drafts — read the rendered message, approve or reject one or a selection,
send a FAILED one again."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Template

from app.core.errors import UnprocessableError
from app.core.listing import PageQuery
from app.dashboard.context import DashRequest, Me, page, see_other
from app.dashboard.lookups import client_names
from app.emails import service
from app.emails.schemas import MAX_SELECTION
from tables.enums import EmailStatus

PAGE_SIZE = 50

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _ids(value: Any) -> list[UUID]:
    raw = value if isinstance(value, list) else [value] if value else []
    try:
        return [UUID(str(v)) for v in raw][:MAX_SELECTION]
    except ValueError as exc:
        raise UnprocessableError("The selection holds something that is not an email id.") from exc


class EmailPages(Controller):
    path = "/emails"

    @get("/", name="dash_emails")
    async def list_page(self, request: DashRequest, principal: Me) -> Template:
        raw_status = request.query_params.get("status", "DRAFT")
        errors: list[dict[str, str]] = []
        status: EmailStatus | None = None
        if raw_status:
            try:
                status = EmailStatus(raw_status.upper())
            except ValueError:
                allowed = ", ".join(s.value for s in EmailStatus)
                errors.append(
                    {"path": "query.status", "message": f"{raw_status!r} is not one of {allowed}."}
                )
        cursor = request.query_params.get("cursor") or None
        items: list[Any] = []
        next_cursor = None
        if not errors:
            try:
                result = await service.list_emails(
                    tenant_id=principal.tenant_id,
                    status=status,
                    page=PageQuery(cursor=cursor, limit=PAGE_SIZE),
                )
                items, next_cursor = result.items, result.next_cursor
            except UnprocessableError as exc:
                errors.extend({"path": e["path"], "message": e["message"]} for e in exc.errors)
        return page(
            "emails.html",
            request,
            principal,
            status_code=400 if errors else 200,
            items=items,
            clients=await client_names(principal.tenant_id, (m.client_id for m in items)),
            next_cursor=next_cursor,
            status=raw_status.upper(),
            statuses=[s.value for s in EmailStatus],
            errors=errors,
            done={
                k: request.query_params.get(k)
                for k in ("approved", "rejected", "skipped", "resent")
            },
        )

    @post("/decide", name="dash_emails_decide")
    async def decide(self, request: DashRequest, principal: Me, data: Form) -> Any:
        # A per-email button sends one=<action>:<id>; the bulk buttons send action + ids.
        one = str(data.get("one") or "")
        if one:
            action, _, single = one.partition(":")
            ids = _ids(single)
        else:
            action = str(data.get("action") or "")
            ids = _ids(data.get("ids"))
        if action not in ("approve", "reject"):
            raise UnprocessableError("Choose approve or reject.")
        if not ids:
            raise UnprocessableError("Select at least one email.")
        if one:
            # One email: its own errors (409 already decided, 422 bad recipient) are the answer.
            decide = service.approve_email if action == "approve" else service.reject_email
            email = await decide(
                tenant_id=principal.tenant_id, email_id=ids[0], actor_id=principal.user_id
            )
            decided, skipped = [email], 0
        else:
            # The selection: the same service as POST /api/v1/emails/decide, one transaction;
            # what someone else decided meanwhile is skipped, the rest goes through.
            result = await service.decide_emails(
                tenant_id=principal.tenant_id,
                actor_id=principal.user_id,
                ids=ids,
                action=action,
            )
            decided, skipped = result.decided, len(result.skipped)
        done = len(decided)
        key = "approved" if action == "approve" else "rejected"
        return see_other(request, f"/dashboard/emails?status=DRAFT&{key}={done}&skipped={skipped}")

    @post("/{email_id:uuid}/resend", name="dash_email_resend")
    async def resend(
        self, request: DashRequest, principal: Me, email_id: FromPath[UUID], data: Form
    ) -> Any:
        # The same service as POST /api/v1/emails/{id}/resend: FAILED only, audited, a person's
        # explicit confirmation when the last attempt may have arrived.
        await service.resend_email(
            tenant_id=principal.tenant_id,
            email_id=email_id,
            actor_id=principal.user_id,
            confirm_possibly_delivered=bool(data.get("confirm_possibly_delivered")),
        )
        return see_other(request, "/dashboard/emails?status=APPROVED&resent=1")
