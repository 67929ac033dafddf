"""The action registry: action type → handler (see base.py for the interface)."""

from __future__ import annotations

from app.engine.actions.base import ActionHandler
from app.engine.actions.client import add_tag, remove_tag, update_client
from app.engine.actions.delay import delay
from app.engine.actions.email import send_email
from app.engine.actions.note import add_note
from app.engine.actions.task import create_task
from app.engine.actions.webhook import webhook_action

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

__all__ = ["HANDLERS"]
