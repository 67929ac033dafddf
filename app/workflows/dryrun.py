"""Dry run: would this workflow run for this client, and what would each step do? Writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from app.core.errors import FieldError, UnprocessableError
from app.workflows.conditions import evaluate
from app.workflows.credentials import redact_config
from app.workflows.definition import action_type, load_actions
from app.workflows.schemas import DryRunAction, DryRunRequest, DryRunResult
from app.workflows.service import get_workflow_row
from app.workflows.templating import rendering_for_a_dry_run
from app.workflows.triggers import trigger_matches
from app.workflows.validation import depth_errors
from app.workflows.variables import build_variables, event_variables, workflow_variables
from tables.enums import ClientStatus, TriggerType

# The execution id a dry run's steps see (webhook-id, idempotency keys): no execution exists.
DRY_RUN_EXECUTION = UUID(int=0)


def _other_status(status: str | None) -> str:
    return next(s.value for s in ClientStatus if s.value != status)


def sample_event(
    *, workflow: dict[str, Any], client: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """An event that fits the workflow's trigger, built from the client where it can be."""
    kind = workflow["trigger_type"]
    config = workflow["trigger_config"] or {}
    status = (client or {}).get("status")
    if kind == TriggerType.CLIENT_CREATED:
        return kind, {"status": status or config.get("status") or "LEAD", "client": client or {}}
    if kind == TriggerType.CLIENT_STATUS_CHANGED:
        to = config.get("to") or status or "ACTIVE"
        return kind, {"from": config.get("from") or _other_status(to), "to": to}
    if kind == TriggerType.DOCUMENT_UPLOADED:
        content_type = config.get("content_type") or "application/pdf"
        if content_type.endswith("/*"):
            content_type = content_type[:-1] + "octet-stream"
        return kind, {
            "document_id": None,
            "filename": "example",
            "content_type": content_type,
            "size_bytes": 0,
            "sha256": "",
        }
    if kind == TriggerType.CUSTOM:
        return str(config.get("event")), {}
    return TriggerType.MANUAL.value, {"workflow_id": str(workflow["id"]), "input": {}}


async def dry_run(*, tenant_id: UUID, workflow_id: UUID, data: DryRunRequest) -> DryRunResult:
    """Match the trigger and conditions and render every step, as the engine would."""
    from app.clients.service import get_client_snapshot

    workflow = await get_workflow_row(tenant_id=tenant_id, workflow_id=workflow_id)
    deep = depth_errors({"$.event_payload": data.event_payload})
    if deep:
        raise UnprocessableError("The event payload nests too deeply.", errors=deep)
    client: dict[str, Any] | None = None
    if data.client_id is not None:
        client = await get_client_snapshot(tenant_id=tenant_id, client_id=data.client_id)
        if client is None:
            raise UnprocessableError(
                "The client does not exist.", errors=[FieldError("$.client_id", "no such client")]
            )
    event_type, payload = sample_event(workflow=workflow, client=client)
    if data.event_type is not None:
        if not data.event_type or len(data.event_type) > 100:
            raise UnprocessableError(
                "The event type is invalid.",
                errors=[FieldError("$.event_type", "must be 1-100 characters")],
            )
        if data.event_type != event_type and data.event_payload is None:
            payload = {}
        event_type = data.event_type
    if data.event_payload is not None:
        payload = data.event_payload
    if event_type == TriggerType.MANUAL.value and data.event_payload is None:
        payload = {"workflow_id": str(workflow_id), "input": {}}

    matched = trigger_matches(
        trigger_type=workflow["trigger_type"],
        trigger_config=workflow["trigger_config"] or {},
        event_type=event_type,
        payload=payload,
        workflow_id=workflow_id,
    )
    # The engine's own builders and checks: a dry run fails exactly where the run would.
    event = event_variables(
        event_id=None, event_type=event_type, payload=payload, depth=0, created_at=datetime.now(UTC)
    )
    variables = build_variables(
        client=client,
        event=event,
        workflow=workflow_variables(
            workflow_id=workflow["id"], name=workflow["name"], version=workflow["version"]
        ),
    )
    conditions_matched = evaluate(workflow["conditions"], variables)
    with rendering_for_a_dry_run():
        steps = await _dry_run_steps(
            tenant_id=tenant_id,
            workflow_id=workflow_id,
            client_id=data.client_id,
            actions=workflow["actions"],
            variables=variables,
        )
    return DryRunResult(
        workflow_id=workflow_id,
        version=workflow["version"],
        client_id=data.client_id,
        event={"type": event_type, "payload": payload},
        trigger_matched=matched,
        conditions_matched=conditions_matched,
        would_run=matched and conditions_matched,
        actions=steps,
    )


async def _dry_run_steps(
    *,
    tenant_id: UUID,
    workflow_id: UUID,
    client_id: UUID | None,
    actions: list[Any],
    variables: dict[str, Any],
) -> list[DryRunAction]:
    """Each step's own checks, as the engine runs them before the step's effect."""
    from app.engine.actions import CHECKS
    from app.engine.actions.base import ActionError, StepContext

    steps: list[DryRunAction] = []
    for index, action in enumerate(load_actions(actions)):
        kind = action_type(action)
        ctx = StepContext(
            tenant_id=tenant_id,
            execution_id=DRY_RUN_EXECUTION,
            workflow_id=workflow_id,
            client_id=client_id,
            event_id=None,
            step_index=index,
            attempt=1,
            depth=0,
            variables=variables,
        )
        checks = CHECKS[kind]
        try:
            config = await checks.render(ctx, action.config)
        except ActionError as exc:
            steps.append(DryRunAction(index=index, type=kind, config=None, error=exc.message))
            continue
        shown = redact_config(msgspec.to_builtins(config))
        try:
            await checks.validate(ctx, config)
        except ActionError as exc:
            steps.append(DryRunAction(index=index, type=kind, config=shown, error=exc.message))
            continue
        steps.append(DryRunAction(index=index, type=kind, config=shown))
    return steps
