"""From committed events to executions: claim, match, create — once per (workflow, event).

One transaction per batch of events: lock the undispatched events (SKIP LOCKED, so two workers
never wait on each other), find the tenant's workflows for each trigger type (one indexed query
per tenant and type), narrow by active flag, loop guard, trigger_config and conditions, insert the
executions with ON CONFLICT DO NOTHING on (workflow, event), record every workflow's verdict and
its reason in event_matches ("why did it not run?"), and mark the events dispatched.
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
from app.workflows.conditions import first_failure
from app.workflows.triggers import BUILTIN_EVENT_TYPES, trigger_mismatch
from app.workflows.variables import build_variables, event_variables, workflow_variables
from tables.enums import ExecutionStatus, MatchReason, StepStatus

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


def event_variables_of(row: Any) -> dict[str, Any]:
    """`event` for templates, from an events row (the shared builder, see variables.py)."""
    created_at: datetime = row["created_at"]
    return event_variables(
        event_id=row["id"],
        event_type=row["type"],
        payload=row["payload"],
        depth=row["depth"],
        created_at=created_at,
    )


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


@dataclass(slots=True)
class Decision:
    """One workflow's verdict for one event, as event_matches records it."""

    event_id: UUID
    workflow: Any
    reason: MatchReason
    message: str
    detail: dict[str, Any] | None = None
    # The execution's row for the INSERT (MATCHED only).
    execution_row: tuple[Any, ...] | None = None

    @property
    def execution_id(self) -> UUID | None:
        return None if self.execution_row is None else self.execution_row[0]


async def claim_events(event_ids: list[UUID]) -> ClaimResult:
    """Create the executions for these events and record every decision; inside unit_of_work()."""
    if not event_ids:
        return ClaimResult(created=[], redelivered=[])
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
    for event in fresh:
        if event["depth"] > max_depth:
            await _loop_guard(event, max_depth)

    wanted: dict[tuple[UUID, str], list[Any]] = defaultdict(list)
    for event in fresh:
        wanted[(event["tenant"], trigger_type_of(event["type"]))].append(event)
    decisions: list[Decision] = []
    for (tenant_id, trigger_type), group in wanted.items():
        # Inactive ones too: "why did it not run?" — "it is inactive" is an answer.
        workflows = await fetch(
            """
            SELECT id, name, version, is_active, trigger_config, conditions, actions
            FROM workflows
            WHERE tenant = $1 AND trigger_type = $2 AND NOT is_template
            ORDER BY name, id
            """,
            tenant_id,
            trigger_type,
        )
        if not workflows:
            continue
        for event in group:
            decisions += await _decide(event, trigger_type, workflows, max_depth)

    created: list[UUID] = []
    rows = [d.execution_row for d in decisions if d.execution_row is not None]
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
    await _record_decisions(decisions, set(created))
    await fetch(
        "UPDATE events SET dispatched_at = now() WHERE id = ANY($1::uuid[])",
        [e["id"] for e in fresh],
    )
    return ClaimResult(created=created, redelivered=redelivered)


async def _record_decisions(decisions: list[Decision], created: set[UUID]) -> None:
    """event_matches rows, one per decision, in the transaction that made the executions."""
    if not decisions:
        return
    for d in decisions:
        if d.reason is MatchReason.MATCHED and d.execution_id not in created:
            d.reason = MatchReason.ALREADY_RAN
            d.message = "the workflow already ran for this event (one execution per event)"
            d.execution_row = None
    await fetch(
        """
        INSERT INTO event_matches (id, event, workflow, workflow_name, workflow_version, matched,
            reason, message, detail, execution, created_at)
        SELECT gen_random_uuid(), ev, w, n, v, m, r, msg, dt::jsonb, x, now()
        FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::bool[], $6::text[],
                    $7::text[], $8::text[], $9::uuid[]) AS u(ev, w, n, v, m, r, msg, dt, x)
        """,
        [d.event_id for d in decisions],
        [d.workflow["id"] for d in decisions],
        [d.workflow["name"] for d in decisions],
        [d.workflow["version"] for d in decisions],
        [d.reason is MatchReason.MATCHED for d in decisions],
        [d.reason.value for d in decisions],
        [d.message for d in decisions],
        [None if d.detail is None else msgspec.json.encode(d.detail).decode() for d in decisions],
        [d.execution_id for d in decisions],
    )


def _show(value: Any) -> str:
    """A value as it reads in a message: JSON (strings quoted), "nothing" for a missing one."""
    return "nothing" if value is None else msgspec.json.encode(value).decode()


def trigger_message(mismatch: dict[str, Any]) -> str:
    key = mismatch["key"]
    if key == "workflow_id":
        return "the manual run was for another workflow"
    if key == "trigger_type":
        return f"the workflow triggers on {mismatch['wanted']}, the event is {mismatch['actual']}"
    return (
        f"trigger_config.{key} wants {_show(mismatch['wanted'])}; "
        f"the event has {_show(mismatch['actual'])}"
    )


def condition_message(failure: dict[str, Any]) -> str:
    comparison = f"{failure['field']} {failure['operator']}"
    if "value" in failure:
        comparison += f" {_show(failure['value'])}"
    seen = "missing" if failure.get("missing") else f"was {_show(failure['actual'])}"
    if failure.get("negated"):
        return f"{failure['path']}: not ({comparison}) failed: {failure['field']} {seen}"
    text = f"{failure['path']}: {comparison} failed: {failure['field']} {seen}"
    if failure.get("alternatives"):
        text += f" (none of the {failure['alternatives']} alternatives held)"
    return text


async def _decide(
    event: Any, trigger_type: str, workflows: list[Any], max_depth: int
) -> list[Decision]:
    """The verdict of each workflow of the event's trigger type, and the executions to create."""
    payload = event["payload"] or {}
    if trigger_type == "MANUAL":
        # A manual run names its workflow; the others were never asked.
        target = str(payload.get("workflow_id"))
        workflows = [w for w in workflows if str(w["id"]) == target]
    event_vars = event_variables_of(event)
    client: dict[str, Any] | None = None
    out: list[Decision] = []
    for w in workflows:
        decision = Decision(
            event_id=event["id"], workflow=w, reason=MatchReason.MATCHED, message=""
        )
        out.append(decision)
        if not w["is_active"]:
            decision.reason, decision.message = MatchReason.INACTIVE, "the workflow is inactive"
            continue
        if event["depth"] > max_depth:
            decision.reason = MatchReason.LOOP_GUARD
            decision.message = (
                f"the event is at chain depth {event['depth']}, past the maximum of {max_depth}: "
                "it starts no workflow"
            )
            decision.detail = {"depth": event["depth"], "max_depth": max_depth}
            continue
        mismatch = trigger_mismatch(
            trigger_type=trigger_type,
            trigger_config=w["trigger_config"] or {},
            event_type=event["type"],
            payload=payload,
            workflow_id=w["id"],
        )
        if mismatch is not None:
            decision.reason, decision.detail = MatchReason.TRIGGER_CONFIG, mismatch
            decision.message = trigger_message(mismatch)
            continue
        conditions = w["conditions"]
        if conditions:
            if client is None:
                client = await _client_snapshot(event["tenant"], event["client"])
            variables = build_variables(
                client=client,
                event=event_vars,
                workflow=workflow_variables(
                    workflow_id=w["id"], name=w["name"], version=w["version"]
                ),
            )
            failure = first_failure(conditions, variables)
            if failure is not None:
                decision.reason, decision.detail = MatchReason.CONDITION, failure
                decision.message = condition_message(failure)
                continue
        definition = {
            "name": w["name"],
            "trigger_type": trigger_type,
            "conditions": conditions,
            "actions": w["actions"],
        }
        decision.message = "the trigger and conditions matched: an execution started"
        decision.execution_row = (
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
    return out


async def oldest_undispatched(tenant_id: UUID, limit: int) -> list[UUID]:
    """The tenant's oldest events not yet claimed (index ix_events_tenant_undispatched)."""
    rows = await fetch(
        """
        SELECT id FROM events WHERE tenant = $1 AND dispatched_at IS NULL
        ORDER BY created_at LIMIT $2
        """,
        tenant_id,
        limit,
    )
    return [r["id"] for r in rows]


async def claim_oldest(tenant_id: UUID, limit: int) -> tuple[int, ClaimResult]:
    """claim_events for the tenant's oldest undispatched events (those another claim holds are
    skipped), and how many events that was; inside unit_of_work()."""
    rows = await fetch(
        """
        SELECT id FROM events WHERE tenant = $1 AND dispatched_at IS NULL
        ORDER BY created_at LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        tenant_id,
        limit,
    )
    return len(rows), await claim_events([r["id"] for r in rows])


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
