"""SEND_EMAIL: store the email the step produced (a draft, or queued for delivery in SEND mode)."""

from __future__ import annotations

from typing import Any

from app.emails.service import create_workflow_email
from app.engine.actions._util import render_field
from app.engine.actions.base import StepContext
from app.workflows.definition import SendEmailConfig


async def send_email(ctx: StepContext, config: SendEmailConfig) -> dict[str, Any]:
    to = render_field("to", config.to, ctx.variables).strip()
    subject = render_field("subject", config.subject, ctx.variables)
    body = render_field("body", config.body, ctx.variables)
    result = await create_workflow_email(
        tenant_id=ctx.tenant_id,
        client_id=ctx.client_id,
        execution_id=ctx.execution_id,
        to=to,
        subject=subject,
        body=body,
    )
    return {"to": to, "subject": subject, **result}
