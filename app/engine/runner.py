"""Running an execution, step by step, durably (DESIGN §7).

Each step runs in its own transaction: the action's effect, its log row and the execution's
`current_step` commit together. The commit is conditional (`current_step` still the step we ran,
status still runnable), so a second runner — a redelivered job, a recovery sweep — or a cancel
that got there first makes the step roll back instead of repeating. A crash at any point leaves
the execution at the last committed step, and whoever resumes it continues from there.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import structlog

from app.audit.service import redact
from app.core.request_context import Actor, set_actor
from app.core.sql import fetch, fetchrow
from app.core.uow import unit_of_work
from app.engine.actions import HANDLERS
from app.engine.actions.base import ActionError, StepContext
from app.engine.locks import LOCKS
from app.workflows.definition import Action, RetryPolicy, load_actions
from tables.enums import ExecutionStatus, StepStatus

log = structlog.get_logger("crmflow.engine")

RUNNABLE = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING)
# Executions of one job run side by side, bounded per process so the pool is never drained.
_PARALLEL = asyncio.Semaphore(16)
# Action types whose effect leaves our database: check for a cancel before each attempt.
_OUTSIDE_EFFECT = frozenset({"WEBHOOK", "SEND_EMAIL"})

_COMMIT_STEP = """
WITH upd AS (
    UPDATE workflow_executions
    SET current_step = $2, status = $3::text, started_at = COALESCE(started_at, now()),
        completed_at = CASE WHEN $3::text IN ('COMPLETED', 'FAILED') THEN now() END,
        resume_at = $4, error_message = $5, updated_at = now()
    WHERE id = $1 AND current_step = $6 AND status IN ('PENDING', 'RUNNING', 'WAITING')
    RETURNING id
)
INSERT INTO workflow_execution_logs (id, execution, step_index, action_type, status, attempt,
    input_data, output_data, error_message, duration_ms, executed_at, created_at)
SELECT $7, upd.id, $6, $8, $9, $10, $11::jsonb, $12::jsonb, $13, $14, now(), now() FROM upd
RETURNING id
"""


class _Superseded(Exception):
    """The step's commit found the execution moved on (cancelled, or run elsewhere)."""


def _dumps(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def _load(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str) else value


def action_type(action: Action) -> str:
    tag: str = type(action).__struct_config__.tag  # type: ignore[assignment]
    return tag


def backoff_s(policy: RetryPolicy, attempt: int, retry_after_s: float | None) -> float:
    """Exponential backoff with jitter (half fixed, half random), capped by the policy."""
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), policy.max_backoff_s)
    base = float(min(policy.backoff_s * (2 ** (attempt - 1)), policy.max_backoff_s))
    return base / 2 + random.uniform(0, base / 2)


class Execution:
    """What a runner needs to know about one execution, loaded once."""

    def __init__(self, row: Any) -> None:
        self.id: UUID = row["id"]
        self.tenant_id: UUID = row["tenant"]
        self.workflow_id: UUID = row["workflow"]
        self.client_id: UUID | None = row["client"]
        self.event_id: UUID | None = row["event"]
        self.depth: int = row["depth"]
        self.current_step: int = row["current_step"]
        definition = _load(row["definition"]) or {}
        self.raw_actions: list[Any] = definition.get("actions") or []
        self.variables: dict[str, Any] = {
            "client": {},
            "event": _load(row["trigger_data"]) or {},
            "workflow": {
                "id": str(row["workflow"]),
                "name": definition.get("name", ""),
                "version": row["workflow_version"],
            },
        }

    def context(self, step_index: int, attempt: int) -> StepContext:
        return StepContext(
            tenant_id=self.tenant_id,
            execution_id=self.id,
            workflow_id=self.workflow_id,
            client_id=self.client_id,
            event_id=self.event_id,
            step_index=step_index,
            attempt=attempt,
            depth=self.depth,
            variables=self.variables,
        )


async def run_executions(execution_ids: list[UUID]) -> None:
    """Run every execution nobody else is running; the rest are someone else's."""
    if not execution_ids:
        return
    mine = await LOCKS.acquire(execution_ids)
    try:
        await asyncio.gather(*(_bounded(i) for i in mine))
    finally:
        await LOCKS.release(mine)


async def _bounded(execution_id: UUID) -> None:
    async with _PARALLEL:
        try:
            await run_locked(execution_id)
        except Exception:
            # The execution stays where its last step committed; the recovery sweep retries it.
            log.exception("engine.execution_crashed", execution_id=str(execution_id))


async def _load_execution(execution_id: UUID) -> Execution | None:
    row = await fetchrow(
        """
        SELECT id, tenant, workflow, client, event, status, current_step, depth, definition,
               trigger_data, workflow_version, resume_at
        FROM workflow_executions WHERE id = $1
        """,
        execution_id,
    )
    if row is None or row["status"] not in RUNNABLE:
        return None
    if row["status"] == ExecutionStatus.WAITING and (
        row["resume_at"] is not None and row["resume_at"] > datetime.now(UTC)
    ):
        return None
    return Execution(row)


async def run_locked(execution_id: UUID) -> None:
    """Run one execution from its current step; the caller holds its lock."""
    execution = await _load_execution(execution_id)
    if execution is None:
        return
    set_actor(Actor(tenant_id=execution.tenant_id))
    try:
        actions = load_actions(execution.raw_actions)
    except (msgspec.ValidationError, TypeError) as exc:
        await _fail_unparsable(execution, str(exc))
        return
    if execution.client_id is not None:
        from app.clients.service import get_client_snapshot

        execution.variables["client"] = (
            await get_client_snapshot(tenant_id=execution.tenant_id, client_id=execution.client_id)
            or {}
        )
    if not actions:
        await _commit(execution, step=0, next_step=0, status=ExecutionStatus.COMPLETED)
        return
    step = execution.current_step
    while step < len(actions):
        if not await _run_step(execution, step, actions[step], last=step == len(actions) - 1):
            return
        step += 1


async def _run_step(execution: Execution, index: int, action: Action, *, last: bool) -> bool:
    """Run one step with its retries; True to go on with the next step."""
    kind = action_type(action)
    handler = HANDLERS.get(kind)
    input_data = redact(msgspec.to_builtins(action.config))
    attempt = 1
    while True:
        if (attempt > 1 or kind in _OUTSIDE_EFFECT) and not await _still_at(execution.id, index):
            return False
        started = time.perf_counter()
        try:
            if handler is None:
                raise ActionError(f"no handler for action type {kind}", retryable=False)
            async with unit_of_work():
                output = await handler(execution.context(index, attempt), action.config)
                status, resume_at = _after_success(kind, output, last=last)
                await _commit(
                    execution,
                    step=index,
                    next_step=index + 1,
                    status=status,
                    resume_at=resume_at,
                    log_status=StepStatus.SUCCESS,
                    action=kind,
                    attempt=attempt,
                    input_data=input_data,
                    output=output,
                    duration_ms=_ms(started),
                )
        except _Superseded:
            return False
        except Exception as exc:
            error = exc if isinstance(exc, ActionError) else ActionError(_describe(exc))
            duration = _ms(started)
            if error.retryable and attempt < action.retry.max_attempts:
                logged = await _log_retry(
                    execution, index, kind, attempt, input_data, error, duration
                )
                if not logged:
                    return False
                await asyncio.sleep(backoff_s(action.retry, attempt, error.retry_after_s))
                attempt += 1
                continue
            return await _fail_step(
                execution, index, action, kind, attempt, input_data, error, duration, last=last
            )
        if isinstance(output.get("client"), dict):
            # Later steps' templates see the client as the step left it.
            execution.variables["client"] = output["client"]
        if status == ExecutionStatus.WAITING and resume_at is not None:
            from app.worker.enqueue import enqueue_run

            await enqueue_run(execution.id, at=resume_at, key=f"resume:{execution.id}:{index}")
            return False
        return True


def _after_success(
    kind: str, output: dict[str, Any], *, last: bool
) -> tuple[ExecutionStatus, datetime | None]:
    if kind == "DELAY":
        resume_at = datetime.fromisoformat(output["resume_at"])
        if resume_at > datetime.now(UTC):
            return ExecutionStatus.WAITING, resume_at
    return (ExecutionStatus.COMPLETED if last else ExecutionStatus.RUNNING), None


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _still_at(execution_id: UUID, index: int) -> bool:
    row = await fetchrow(
        "SELECT status, current_step FROM workflow_executions WHERE id = $1", execution_id
    )
    return row is not None and row["status"] in RUNNABLE and row["current_step"] == index


async def _commit(
    execution: Execution,
    *,
    step: int,
    next_step: int,
    status: ExecutionStatus,
    resume_at: datetime | None = None,
    error_message: str | None = None,
    log_status: StepStatus | None = None,
    action: str = "",
    attempt: int = 1,
    input_data: Any = None,
    output: Any = None,
    log_error: str | None = None,
    duration_ms: int = 0,
) -> None:
    """Move the execution on and log the step, in the caller's transaction; or raise _Superseded."""
    if log_status is None:
        rows = await fetch(
            """
            UPDATE workflow_executions SET current_step = $2, status = $3::text,
                started_at = COALESCE(started_at, now()),
                completed_at = CASE WHEN $3::text IN ('COMPLETED', 'FAILED') THEN now() END,
                error_message = $4, updated_at = now()
            WHERE id = $1 AND current_step = $5 AND status IN ('PENDING', 'RUNNING', 'WAITING')
            RETURNING id
            """,
            execution.id,
            next_step,
            status.value,
            error_message,
            step,
        )
    else:
        rows = await fetch(
            _COMMIT_STEP,
            execution.id,
            next_step,
            status.value,
            resume_at,
            error_message,
            step,
            uuid4(),
            action,
            log_status.value,
            attempt,
            _dumps(input_data or {}),
            _dumps(output),
            log_error,
            duration_ms,
        )
    if not rows:
        raise _Superseded


async def _log_retry(
    execution: Execution,
    index: int,
    kind: str,
    attempt: int,
    input_data: Any,
    error: ActionError,
    duration_ms: int,
) -> bool:
    try:
        async with unit_of_work():
            await _commit(
                execution,
                step=index,
                next_step=index,
                status=ExecutionStatus.RUNNING,
                log_status=StepStatus.RETRYING,
                action=kind,
                attempt=attempt,
                input_data=input_data,
                output=error.output,
                log_error=error.message,
                duration_ms=duration_ms,
            )
    except _Superseded:
        return False
    log.info(
        "engine.step_retrying",
        execution_id=str(execution.id),
        step=index,
        action=kind,
        attempt=attempt,
        error=error.message,
    )
    return True


async def _fail_step(
    execution: Execution,
    index: int,
    action: Action,
    kind: str,
    attempt: int,
    input_data: Any,
    error: ActionError,
    duration_ms: int,
    *,
    last: bool,
) -> bool:
    go_on = action.on_error == "continue"
    if go_on:
        status = ExecutionStatus.COMPLETED if last else ExecutionStatus.RUNNING
        next_step, message = index + 1, None
    else:
        status, next_step = ExecutionStatus.FAILED, index
        message = f"step {index} ({kind}) failed: {error.message}"
    try:
        async with unit_of_work():
            await _commit(
                execution,
                step=index,
                next_step=next_step,
                status=status,
                error_message=message,
                log_status=StepStatus.FAILED,
                action=kind,
                attempt=attempt,
                input_data=input_data,
                output=error.output,
                log_error=error.message,
                duration_ms=duration_ms,
            )
    except _Superseded:
        return False
    log.info(
        "engine.step_failed",
        execution_id=str(execution.id),
        step=index,
        action=kind,
        attempt=attempt,
        error=error.message,
        on_error=action.on_error,
    )
    return go_on


async def _fail_unparsable(execution: Execution, reason: str) -> None:
    try:
        async with unit_of_work():
            await _commit(
                execution,
                step=execution.current_step,
                next_step=execution.current_step,
                status=ExecutionStatus.FAILED,
                error_message=f"the recorded definition cannot be read: {reason}",
            )
    except _Superseded:
        return
