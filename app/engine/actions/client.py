"""UPDATE_CLIENT, ADD_TAG, REMOVE_TAG: change the execution's client through the clients service.

A status change emits CLIENT_STATUS_CHANGED one level deeper in the chain (the loop guard's
depth), caused by this execution.
"""

from __future__ import annotations

from typing import Any

from app.core.errors import AppError
from app.engine.actions._util import ConfigT, render_step, service_error
from app.engine.actions.base import ActionError, StepContext
from app.workflows.definition import TagConfig, UpdateClientConfig


def _client_id(ctx: StepContext) -> Any:
    if ctx.client_id is None:
        raise ActionError("this execution has no client to change", retryable=False)
    return ctx.client_id


async def validate_client_change(ctx: StepContext, config: ConfigT) -> ConfigT:
    """UPDATE_CLIENT/ADD_TAG/REMOVE_TAG, rendered, before their effect: there is a client."""
    _client_id(ctx)
    return config


async def check_client_change(ctx: StepContext, config: ConfigT) -> ConfigT:
    return await validate_client_change(ctx, await render_step(ctx, config))


async def update_client(ctx: StepContext, config: UpdateClientConfig) -> dict[str, Any]:
    from app.clients.service import update_client as update

    changes = (await check_client_change(ctx, config)).changes()
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

    tag = (await check_client_change(ctx, config)).tag
    try:
        client = await add(tenant_id=ctx.tenant_id, client_id=_client_id(ctx), tag=tag)
    except AppError as exc:
        raise service_error(exc) from exc
    return {"tag": tag, "client": client}


async def remove_tag(ctx: StepContext, config: TagConfig) -> dict[str, Any]:
    from app.clients.service import remove_tag as remove

    tag = (await check_client_change(ctx, config)).tag
    try:
        client = await remove(tenant_id=ctx.tenant_id, client_id=_client_id(ctx), tag=tag)
    except AppError as exc:
        raise service_error(exc) from exc
    return {"tag": tag, "client": client}
