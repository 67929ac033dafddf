"""The action registry: action type → handler (see base.py for the interface), and action type
→ its checks before any effect (CHECKS), which the handler runs first and the dry run runs alone,
so a dry run reports exactly the errors the step would fail with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from app.engine.actions._util import render_step
from app.engine.actions.base import ActionHandler, StepContext
from app.engine.actions.client import (
    add_tag,
    remove_tag,
    update_client,
    validate_client_change,
)
from app.engine.actions.delay import delay, validate_delay
from app.engine.actions.email import send_email, validate_email
from app.engine.actions.note import add_note, validate_note
from app.engine.actions.task import create_task, validate_task
from app.engine.actions.webhook import render_webhook, validate_webhook, webhook_action

# (context, config) -> config; ActionError exactly as the step would fail.
CheckStage = Callable[[StepContext, Any], Awaitable[Any]]


class StepChecks(NamedTuple):
    """What a step does before its effect, in two stages the handler runs back to back and the
    dry run runs separately (to show the rendered config even when a later check fails)."""

    render: CheckStage
    validate: CheckStage


CHECKS: dict[str, StepChecks] = {
    "SEND_EMAIL": StepChecks(render_step, validate_email),
    "CREATE_TASK": StepChecks(render_step, validate_task),
    "UPDATE_CLIENT": StepChecks(render_step, validate_client_change),
    "ADD_TAG": StepChecks(render_step, validate_client_change),
    "REMOVE_TAG": StepChecks(render_step, validate_client_change),
    "ADD_NOTE": StepChecks(render_step, validate_note),
    "DELAY": StepChecks(render_step, validate_delay),
    "WEBHOOK": StepChecks(render_webhook, validate_webhook),
}

HANDLERS: dict[str, ActionHandler] = {
    "SEND_EMAIL": send_email,
    "CREATE_TASK": create_task,
    "UPDATE_CLIENT": update_client,
    "ADD_TAG": add_tag,
    "REMOVE_TAG": remove_tag,
    "ADD_NOTE": add_note,
    "DELAY": delay,
    "WEBHOOK": webhook_action,
}

__all__ = ["CHECKS", "HANDLERS", "StepChecks"]
