"""ADD_NOTE: a note on the execution's client."""

from __future__ import annotations

from typing import Any

from app.core.errors import AppError
from app.engine.actions._util import render_field, service_error
from app.engine.actions.base import ActionError, StepContext
from app.workflows.definition import AddNoteConfig


async def add_note(ctx: StepContext, config: AddNoteConfig) -> dict[str, Any]:
    from app.notes.service import add_note as add

    if ctx.client_id is None:
        raise ActionError("this execution has no client to add a note to", retryable=False)
    body = render_field("body", config.body, ctx.variables)
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
    return {"note_id": str(note["id"])}
