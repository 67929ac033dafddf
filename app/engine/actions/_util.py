"""Shared helpers for action handlers: template rendering with step-level errors."""

from __future__ import annotations

from typing import Any

from app.core.errors import AppError
from app.engine.actions.base import ActionError
from app.workflows.templating import TemplateError, render, render_value


def render_field(name: str, template: str, variables: dict[str, Any]) -> str:
    """Render one config string; a template error fails the step for good (no retry helps)."""
    try:
        return render(template, variables)
    except TemplateError as exc:
        raise ActionError(f"template error in {name}: {exc.message}", retryable=False) from exc


def render_json(name: str, value: Any, variables: dict[str, Any]) -> Any:
    try:
        return render_value(value, variables)
    except TemplateError as exc:
        raise ActionError(f"template error in {name}: {exc.message}", retryable=False) from exc


def service_error(exc: AppError) -> ActionError:
    """A service refused the change. Retryable: what it refers to may exist on the next try."""
    details = "; ".join(f"{e['path']}: {e['message']}" for e in exc.errors)
    message = f"{exc.detail} ({details})" if details else exc.detail
    return ActionError(message, retryable=True)
