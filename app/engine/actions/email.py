"""SEND_EMAIL: store the email the step produced (a draft, or queued for delivery in SEND mode)."""

from __future__ import annotations

from typing import Any

import msgspec

from app.emails.addresses import InvalidRecipient, parse_recipient
from app.emails.service import create_workflow_email
from app.engine.actions._util import render_step
from app.engine.actions.base import ActionError, StepContext
from app.workflows.definition import SendEmailConfig


async def validate_email(ctx: StepContext, config: SendEmailConfig) -> SendEmailConfig:
    """SEND_EMAIL, rendered, before its effect: `to` is exactly one valid address (a literal
    one was checked on save); the result carries the parsed address."""
    try:
        to = parse_recipient(config.to).header
    except InvalidRecipient as exc:
        raise ActionError(f"to: {exc}", retryable=False) from None
    return msgspec.structs.replace(config, to=to)


async def check_email(ctx: StepContext, config: SendEmailConfig) -> SendEmailConfig:
    return await validate_email(ctx, await render_step(ctx, config))


async def send_email(ctx: StepContext, config: SendEmailConfig) -> dict[str, Any]:
    config = await check_email(ctx, config)
    to, subject, body = config.to, config.subject, config.body
    result = await create_workflow_email(
        tenant_id=ctx.tenant_id,
        client_id=ctx.client_id,
        execution_id=ctx.execution_id,
        to=to,
        subject=subject,
        body=body,
    )
    return {"to": to, "subject": subject, **result}
