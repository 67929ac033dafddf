"""ADD_NOTE: a note on the execution's client."""

from __future__ import annotations

from typing import Any

from app.core.errors import AppError
from app.engine.actions._util import render_step, service_error
from app.engine.actions.base import ActionError, StepContext
from app.workflows.definition import AddNoteConfig


async def validate_note(ctx: StepContext, config: AddNoteConfig) -> AddNoteConfig:
    """ADD_NOTE, rendered, before its effect: there is a client."""
    if ctx.client_id is None:
        raise ActionError("this execution has no client to add a note to", retryable=False)
    return config


async def check_note(ctx: StepContext, config: AddNoteConfig) -> AddNoteConfig:
    return await validate_note(ctx, await render_step(ctx, config))


async def add_note(ctx: StepContext, config: AddNoteConfig) -> dict[str, Any]:
    from app.notes.service import add_note as add

    body = (await check_note(ctx, config)).body
    assert ctx.client_id is not None  # check_note refused otherwise
    try:
        note = await add(
            tenant_id=ctx.tenant_id,
            client_id=ctx.client_id,
            body=body,
            author_id=None,
            execution_id=ctx.execution_id,
        )
    except AppError as exc:
        raise service_error(exc) from exc
    return {"note_id": str(note.id)}
