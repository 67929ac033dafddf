"""From committed events to executions: claim, match, create — once per (workflow, event).

One transaction per batch of events: lock the undispatched events (SKIP LOCKED, so two workers
never wait on each other), find the tenant's active workflows for each trigger type (one indexed
query per tenant and type), narrow by trigger_config and conditions, insert the executions with
ON CONFLICT DO NOTHING on (workflow, event), and mark the events dispatched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import structlog

from app.core.config import get_settings
from app.core.sql import fetch
from app.workflows.conditions import evaluate
from app.workflows.triggers import BUILTIN_EVENT_TYPES, trigger_matches
from tables.enums import ExecutionStatus, StepStatus

log = structlog.get_logger("crmflow.engine")


@dataclass(frozen=True, slots=True)
class ClaimResult:
    # Executions created now, ready to run.
    created: list[UUID]
    # Events that had been dispatched before (a redelivery): their executions may need resuming.
    redelivered: list[UUID]


def trigger_type_of(event_type: str) -> str:
    """The workflows.trigger_type an event type is matched against."""
    return event_type if event_type in BUILTIN_EVENT_TYPES else "CUSTOM"


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return msgspec.json.decode(value)
    return value


def event_variables(row: Any) -> dict[str, Any]:
    created_at: datetime = row["created_at"]
    return {
        "id": str(row["id"]),
        "type": row["type"],
        "payload": _json(row["payload"]) or {},
        "depth": row["depth"],
        "created_at": created_at.isoformat(),
    }


async def _client_snapshot(tenant_id: UUID, client_id: UUID | None) -> dict[str, Any]:
    if client_id is None:
        return {}
    from app.clients.service import get_client_snapshot

    return await get_client_snapshot(tenant_id=tenant_id, client_id=client_id) or {}


async def _loop_guard(event: Any, max_depth: int) -> None:
    """Record why an event past the chain limit started nothing."""
    log.warning(
        "engine.loop_guard",
        event_id=str(event["id"]),
        event_type=event["type"],
        depth=event["depth"],
        max_chain_depth=max_depth,
        caused_by_execution=str(event["caused_by_execution"]),
    )
    causing = event["caused_by_execution"]
    if causing is None:
        return
    message = (
        f"event {event['id']} ({event['type']}) is at chain depth {event['depth']}, past the "
        f"maximum of {max_depth}: it was recorded but starts no workflow"
    )
    await fetch(
        """
        INSERT INTO workflow_execution_logs (id, execution, step_index, action_type, status,
            attempt, input_data, output_data, error_message, duration_ms, executed_at, created_at)
        SELECT $1, e.id, GREATEST(e.current_step - 1, 0), 'LOOP_GUARD', $3, 1, $4::jsonb,
               NULL, $5, 0, now(), now()
        FROM workflow_executions e WHERE e.id = $2
        """,
        uuid4(),
        causing,
        StepStatus.SKIPPED.value,
        msgspec.json.encode({"event_id": str(event["id"]), "depth": event["depth"]}).decode(),
        message,
    )


async def claim_events(event_ids: list[UUID]) -> ClaimResult:
    """Create the executions for these events; call inside unit_of_work()."""
    events = await fetch(
        """
        SELECT id, tenant, type, client, payload, depth, caused_by_execution, created_at,
               dispatched_at
        FROM events WHERE id = ANY($1::uuid[])
        FOR UPDATE SKIP LOCKED
        """,
        event_ids,
    )
    fresh = [e for e in events if e["dispatched_at"] is None]
    redelivered = [e["id"] for e in events if e["dispatched_at"] is not None]
    if not fresh:
        return ClaimResult(created=[], redelivered=redelivered)
    max_depth = get_settings().max_chain_depth
    runnable = []
    for event in fresh:
        if event["depth"] > max_depth:
            await _loop_guard(event, max_depth)
        else:
            runnable.append(event)

    wanted: dict[tuple[UUID, str], list[Any]] = defaultdict(list)
    for event in runnable:
        wanted[(event["tenant"], trigger_type_of(event["type"]))].append(event)
    rows: list[tuple[Any, ...]] = []
    for (tenant_id, trigger_type), group in wanted.items():
        workflows = await fetch(
            """
            SELECT id, name, version, trigger_config, conditions, actions
            FROM workflows
            WHERE tenant = $1 AND trigger_type = $2 AND is_active AND NOT is_template
            """,
            tenant_id,
            trigger_type,
        )
        if not workflows:
            continue
        for event in group:
            rows += await _match_event(event, trigger_type, workflows)

    created: list[UUID] = []
    if rows:
        columns = list(zip(*rows, strict=True))
        inserted = await fetch(
            """
            INSERT INTO workflow_executions (id, tenant, workflow, client, event,
                workflow_version, definition, status, trigger_data, current_step, depth,
                created_at, updated_at)
            SELECT i, t, w, c, ev, v, d::jsonb, 'PENDING', td::jsonb, 0, dp, now(), now()
            FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::int[],
                        $7::text[], $8::text[], $9::int[]) AS x(i, t, w, c, ev, v, d, td, dp)
            ON CONFLICT ON CONSTRAINT uq_workflow_executions_workflow_event DO NOTHING
            RETURNING id
            """,
            *columns,
        )
        created = [r["id"] for r in inserted]
    await fetch(
        "UPDATE events SET dispatched_at = now() WHERE id = ANY($1::uuid[])",
        [e["id"] for e in fresh],
    )
    return ClaimResult(created=created, redelivered=redelivered)


async def _match_event(
    event: Any, trigger_type: str, workflows: list[Any]
) -> list[tuple[Any, ...]]:
    payload = _json(event["payload"]) or {}
    candidates = [
        w
        for w in workflows
        if trigger_matches(
            trigger_type=trigger_type,
            trigger_config=_json(w["trigger_config"]) or {},
            event_type=event["type"],
            payload=payload,
            workflow_id=w["id"],
        )
    ]
    if not candidates:
        return []
    client = await _client_snapshot(event["tenant"], event["client"])
    event_vars = event_variables(event)
    rows = []
    for w in candidates:
        conditions = _json(w["conditions"])
        variables = {
            "client": client,
            "event": event_vars,
            "workflow": {"id": str(w["id"]), "name": w["name"], "version": w["version"]},
        }
        if conditions and not evaluate(conditions, variables):
            continue
        definition = {
            "name": w["name"],
            "trigger_type": trigger_type,
            "conditions": conditions,
            "actions": _json(w["actions"]),
        }
        rows.append(
            (
                uuid4(),
                event["tenant"],
                w["id"],
                event["client"],
                event["id"],
                w["version"],
                msgspec.json.encode(definition).decode(),
                msgspec.json.encode(event_vars).decode(),
                event["depth"],
            )
        )
    return rows


async def executions_to_resume(event_ids: list[UUID]) -> list[UUID]:
    """Unfinished executions of already-dispatched events (a worker died while running them)."""
    rows = await fetch(
        """
        SELECT id FROM workflow_executions
        WHERE event = ANY($1::uuid[]) AND status IN ($2, $3)
        """,
        event_ids,
        ExecutionStatus.PENDING.value,
        ExecutionStatus.RUNNING.value,
    )
    return [r["id"] for r in rows]
