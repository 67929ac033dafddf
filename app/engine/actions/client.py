"""UPDATE_CLIENT, ADD_TAG, REMOVE_TAG: change the execution's client through the clients service.

A status change emits CLIENT_STATUS_CHANGED one level deeper in the chain (the loop guard's
depth), caused by this execution.
"""

from __future__ import annotations

from typing import Any

from app.core.errors import AppError
from app.engine.actions._util import render_field, render_json, service_error
from app.engine.actions.base import ActionError, StepContext
from app.workflows.definition import TagConfig, UpdateClientConfig

_TEMPLATED = ("name", "email", "phone", "company")


def _client_id(ctx: StepContext) -> Any:
    if ctx.client_id is None:
        raise ActionError("this execution has no client to change", retryable=False)
    return ctx.client_id


async def update_client(ctx: StepContext, config: UpdateClientConfig) -> dict[str, Any]:
    from app.clients.service import update_client as update

    changes: dict[str, Any] = {}
    for name, value in config.changes().items():
        if name in _TEMPLATED:
            changes[name] = render_field(name, value, ctx.variables)
        elif name == "custom_fields":
            changes[name] = render_json(name, value, ctx.variables)
        else:
            changes[name] = value
    try:
        client = await update(
            tenant_id=ctx.tenant_id,
            client_id=_client_id(ctx),
            changes=changes,
            actor_id=None,
            depth=ctx.depth + 1,
            caused_by_execution=ctx.execution_id,
        )
    except AppError as exc:
        raise service_error(exc) from exc
    return {"changes": changes, "client": client}


async def add_tag(ctx: StepContext, config: TagConfig) -> dict[str, Any]:
    from app.clients.service import add_tag as add

    tag = render_field("tag", config.tag, ctx.variables)
    try:
        client = await add(tenant_id=ctx.tenant_id, client_id=_client_id(ctx), tag=tag)
    except AppError as exc:
        raise service_error(exc) from exc
    return {"tag": tag, "client": client}


async def remove_tag(ctx: StepContext, config: TagConfig) -> dict[str, Any]:
    from app.clients.service import remove_tag as remove

    tag = render_field("tag", config.tag, ctx.variables)
    try:
        client = await remove(tenant_id=ctx.tenant_id, client_id=_client_id(ctx), tag=tag)
    except AppError as exc:
        raise service_error(exc) from exc
    return {"tag": tag, "client": client}
