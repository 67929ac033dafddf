"""Shared helpers for action handlers: template rendering with step-level errors."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from app.core.errors import AppError
from app.engine.actions.base import ActionError, StepContext
from app.workflows.definition import render_fields
from app.workflows.templating import TemplateError, off_loop

ConfigT = TypeVar("ConfigT", bound=msgspec.Struct)


def template_failure(exc: TemplateError) -> ActionError:
    """A template error fails the step for good (no retry helps); the message names the field."""
    return ActionError(exc.step_message(), retryable=False)


async def rendered(config: ConfigT, variables: dict[str, Any]) -> ConfigT:
    """The step's config with its template fields rendered, off the event loop."""
    try:
        return await off_loop(render_fields, config, variables)
    except TemplateError as exc:
        raise template_failure(exc) from exc


async def render_step(ctx: StepContext, config: ConfigT) -> ConfigT:
    """The first half of every action's checks: the config with its templates rendered."""
    return await rendered(config, ctx.variables)


def service_error(exc: AppError) -> ActionError:
    """A service refused the change. Retryable: what it refers to may exist on the next try."""
    details = "; ".join(f"{e['path']}: {e['message']}" for e in exc.errors)
    message = f"{exc.detail} ({details})" if details else exc.detail
    return ActionError(message, retryable=True)
