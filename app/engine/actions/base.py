"""The one interface every action type implements.

A handler receives the step's context and its validated config struct (from
app.workflows.definition) and returns a JSON-able output dict, which is logged on the step.

Handlers whose effect is in our database run inside the step's transaction: the effect, the
step log and the execution's `current_step` commit together, so a crash never repeats them.
Handlers with an outside effect (WEBHOOK, SMTP) cannot be atomic with our commit; they pass an
idempotency key (`StepContext.idempotency_key`) so the receiver can drop a repeat.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class StepContext:
    tenant_id: UUID
    execution_id: UUID
    workflow_id: UUID
    client_id: UUID | None
    event_id: UUID | None
    step_index: int
    attempt: int
    # Chain depth of the triggering event; events a step causes carry depth + 1.
    depth: int
    # The template context: {"client": {...}, "event": {...}, "workflow": {...}}.
    variables: dict[str, Any]

    @property
    def idempotency_key(self) -> str:
        return f"{self.execution_id}:{self.step_index}"


class ActionError(Exception):
    """A step failed. `retryable=False` skips the remaining attempts (e.g. a template error)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after_s: float | None = None,
        output: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.output = output


ActionHandler = Callable[[StepContext, Any], Awaitable[dict[str, Any]]]
