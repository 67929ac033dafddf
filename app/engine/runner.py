"""Running an execution, step by step, durably (README: "The engine and the worker").

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
from app.core import metrics
from app.core.db import database_lost, is_database_unavailable
from app.core.request_context import Actor, set_actor
from app.core.sql import fetch, fetchrow
from app.core.uow import enqueue_after_commit, unit_of_work
from app.engine.actions import HANDLERS
from app.engine.actions.base import ActionError, StepContext
from app.engine.locks import LOCKS
from app.workflows.credentials import redact_config
from app.workflows.definition import Action, RetryPolicy, action_type, load_actions
from app.workflows.variables import build_variables, workflow_variables
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
        self.started_at: datetime | None = row["started_at"]
        self.event_created_at: datetime | None = row["event_created_at"]
        self.request_id: str | None = row["request_id"]
        definition = row["definition"] or {}
        self.raw_actions: list[Any] = definition.get("actions") or []
        # The client is loaded when the execution runs (load_client), as the dry run does.
        self.variables: dict[str, Any] = build_variables(
            client=None,
            event=row["trigger_data"] or {},
            workflow=workflow_variables(
                workflow_id=row["workflow"],
                name=definition.get("name", ""),
                version=row["workflow_version"],
            ),
        )

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
    """Run every execution nobody else is running; the rest are someone else's.

    The executions of one job run together, step by step (_run_batch): the next step of every
    execution whose step is in our database commits in one transaction; the others (outside
    effects, DELAY, a failure) continue one by one, as before.

    Each lock is given back as soon as its own execution stops (completed, failed, cancelled,
    or parked by a DELAY), not when the whole batch is done: a parked execution's resume job, or
    the recovery sweep, must find it free while the rest of a large batch is still running.
    """
    if not execution_ids:
        return
    mine = await LOCKS.acquire(execution_ids)
    try:
        await _run_batch(mine)
    finally:
        # Cancelled midway: whatever is still held (release ignores ids already given back).
        await LOCKS.release(mine)


async def _bounded(execution_id: UUID) -> None:
    async with _PARALLEL:
        try:
            await run_locked(execution_id)
        except Exception as exc:
            # The execution stays where its last step committed; the recovery sweep retries it.
            if is_database_unavailable(exc):
                database_lost(exc)  # logged once per outage, not once per execution
                return
            log.exception("engine.execution_crashed", execution_id=str(execution_id))


async def _bounded_continue(execution: Execution, actions: list[Action]) -> None:
    """The one-by-one path for an execution that left a batch (same guarantees)."""
    try:
        async with _PARALLEL:
            _enter(execution)
            try:
                await _continue(execution, actions)
            except Exception as exc:
                if is_database_unavailable(exc):
                    database_lost(exc)
                    return
                log.exception("engine.execution_crashed", execution_id=str(execution.id))
    finally:
        await LOCKS.release([execution.id])


async def _load_execution(execution_id: UUID) -> Execution | None:
    row = await fetchrow(
        """
        SELECT x.id, x.tenant, x.workflow, x.client, x.event, x.status, x.current_step, x.depth,
               x.definition, x.trigger_data, x.workflow_version, x.resume_at, x.started_at,
               e.created_at AS event_created_at, e.request_id
        FROM workflow_executions x LEFT JOIN events e ON e.id = x.event
        WHERE x.id = $1
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


def _enter(execution: Execution) -> None:
    """The actor and log context of this execution, for what runs next in this task."""
    set_actor(Actor(tenant_id=execution.tenant_id))
    # Every line logged while this execution runs (and every event it writes) carries these.
    structlog.contextvars.bind_contextvars(
        request_id=execution.request_id,
        tenant_id=str(execution.tenant_id),
        event_id=None if execution.event_id is None else str(execution.event_id),
        execution_id=str(execution.id),
    )


def _started(execution: Execution) -> None:
    if execution.started_at is None:
        execution.started_at = datetime.now(UTC)
        delay = None
        if execution.event_created_at is not None:
            delay = (execution.started_at - execution.event_created_at).total_seconds()
        metrics.execution_started(workflow_id=execution.workflow_id, event_delay_s=delay)


async def run_locked(execution_id: UUID) -> None:
    """Run one execution from its current step; the caller holds its lock."""
    execution = await _load_execution(execution_id)
    if execution is None:
        return
    _enter(execution)
    _started(execution)
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
    await _continue(execution, actions)


async def _continue(execution: Execution, actions: list[Action]) -> None:
    if not actions:
        await _commit(execution, step=0, next_step=0, status=ExecutionStatus.COMPLETED)
        return
    step = execution.current_step
    while step < len(actions):
        if not await _run_step(execution, step, actions[step], last=step == len(actions) - 1):
            return
        step += 1


# --- Batches: the k-th steps of many executions in one transaction ------------------------

_LOAD_MANY = """
SELECT x.id, x.tenant, x.workflow, x.client, x.event, x.status, x.current_step, x.depth,
       x.definition, x.trigger_data, x.workflow_version, x.resume_at, x.started_at,
       e.created_at AS event_created_at, e.request_id
FROM workflow_executions x LEFT JOIN events e ON e.id = x.event
WHERE x.id = ANY($1::uuid[])
"""

# One statement for the whole batch: every execution's conditional move (still at the step we
# ran, still runnable) and the log rows of those that moved.
_COMMIT_MANY = """
WITH v AS (
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[])
        AS v(id, step, status, resume_at)
), upd AS (
    UPDATE workflow_executions x
    SET current_step = v.step + 1, status = v.status, started_at = COALESCE(x.started_at, now()),
        completed_at = CASE WHEN v.status IN ('COMPLETED', 'FAILED') THEN now() END,
        resume_at = v.resume_at, error_message = NULL, updated_at = now()
    FROM v
    WHERE x.id = v.id AND x.current_step = v.step
      AND x.status IN ('PENDING', 'RUNNING', 'WAITING')
    RETURNING x.id
), logs AS (
    INSERT INTO workflow_execution_logs (id, execution, step_index, action_type, status, attempt,
        input_data, output_data, error_message, duration_ms, executed_at, created_at)
    SELECT l.log_id, l.id, l.step, l.action, 'SUCCESS', 1, l.input::jsonb, l.output::jsonb, NULL,
           l.duration, now(), now()
    FROM unnest($5::uuid[], $1::uuid[], $2::int[], $6::text[], $7::text[], $8::text[],
                $9::int[]) AS l(log_id, id, step, action, input, output, duration)
    JOIN upd ON upd.id = l.id
)
SELECT id FROM upd
"""


# The clients' snapshot columns (app.clients.service.COLUMNS) and their tenant, for many ids.
_CLIENTS_MANY = """
SELECT id, owner, name, email, phone, company, status, tags, custom_fields, external_id,
       created_at, updated_at, tenant
FROM clients WHERE id = ANY($1::uuid[])
"""


class _BatchFailed(Exception):
    """A step of the batch raised: nothing of the batch committed; its members go one by one."""


def _batchable(action: Action) -> bool:
    kind = action_type(action)
    return kind in HANDLERS and kind not in _OUTSIDE_EFFECT and kind != "DELAY"


async def _load_batch(ids: list[UUID]) -> list[tuple[Execution, list[Action]]]:
    rows = await fetch(_LOAD_MANY, ids) if ids else []
    now = datetime.now(UTC)
    loaded: list[tuple[Execution, list[Action]]] = []
    for row in rows:
        if row["status"] not in RUNNABLE:
            continue
        if row["status"] == ExecutionStatus.WAITING and (
            row["resume_at"] is not None and row["resume_at"] > now
        ):
            continue
        execution = Execution(row)
        _enter(execution)
        _started(execution)
        try:
            actions = load_actions(execution.raw_actions)
        except (msgspec.ValidationError, TypeError) as exc:
            await _fail_unparsable(execution, str(exc))
            continue
        loaded.append((execution, actions))
    with_client = [e for e, _ in loaded if e.client_id is not None]
    if with_client:
        from app.clients.service import snapshot

        clients = await fetch(_CLIENTS_MANY, [e.client_id for e in with_client])
        by_id = {(r["id"], r["tenant"]): snapshot(r) for r in clients}
        for e in with_client:
            e.variables["client"] = by_id.get((e.client_id, e.tenant_id)) or {}
    return loaded


async def _run_batch(ids: list[UUID]) -> None:
    try:
        batch = await _load_batch(ids)
    except Exception as exc:
        if is_database_unavailable(exc):
            database_lost(exc)
            return
        raise
    # Not runnable (finished, parked for later, unreadable): nothing to hold.
    await LOCKS.release(set(ids) - {e.id for e, _ in batch})
    alone: list[tuple[Execution, list[Action]]] = []
    while batch:
        ready = []
        for execution, actions in batch:
            step = execution.current_step
            if not actions or step >= len(actions) or not _batchable(actions[step]):
                alone.append((execution, actions))
            else:
                ready.append((execution, actions))
        if len(ready) < 2:
            alone += ready
            break
        try:
            going_on = await _batch_step(ready)
            # Completed, or left out (cancelled or taken over): its lock goes back now.
            await LOCKS.release({e.id for e, _ in ready} - {e.id for e, _ in going_on})
            batch = going_on
        except _BatchFailed:
            alone += ready
            break
        except Exception as exc:
            if is_database_unavailable(exc):
                database_lost(exc)  # every execution stays at its last committed step
                return
            raise
    await asyncio.gather(*(_bounded_continue(e, a) for e, a in alone))


async def _batch_step(
    members: list[tuple[Execution, list[Action]]],
) -> list[tuple[Execution, list[Action]]]:
    """Run the current step of every member and commit them together; the members that go on.

    Members cancelled or taken over meanwhile fail the conditional update: the transaction is
    rolled back and run again without them (their steps never happened; in-database effects
    only, so nothing is repeated). A step that raises rolls the whole batch back
    (_BatchFailed): its members continue one by one, where retries and on_error live.
    """
    while members:
        done: list[tuple[Execution, int, str, dict[str, Any], ExecutionStatus, Any, int]] = []
        moved: set[UUID] = set()
        try:
            async with unit_of_work():
                for execution, actions in members:
                    _enter(execution)
                    index = execution.current_step
                    action = actions[index]
                    kind = action_type(action)
                    started = time.perf_counter()
                    try:
                        output = await HANDLERS[kind](execution.context(index, 1), action.config)
                    except Exception as exc:
                        if is_database_unavailable(exc):
                            raise
                        raise _BatchFailed from exc
                    status, _ = _after_success(kind, output, last=index == len(actions) - 1)
                    done.append((execution, index, kind, output, status, action, _ms(started)))
                rows = await fetch(
                    _COMMIT_MANY,
                    [d[0].id for d in done],
                    [d[1] for d in done],
                    [d[4].value for d in done],
                    [None for _ in done],
                    [uuid4() for _ in done],
                    [d[2] for d in done],
                    [_dumps(redact(redact_config(msgspec.to_builtins(d[5].config)))) for d in done],
                    [_dumps(d[3]) for d in done],
                    [d[6] for d in done],
                )
                moved = {r["id"] for r in rows}
                if len(moved) != len(done):
                    raise _Superseded
        except _Superseded:
            members = [m for m in members if m[0].id in moved]
            continue
        going_on = []
        for (execution, actions), (_, index, kind, output, status, _, duration) in zip(
            members, done, strict=True
        ):
            execution.current_step = index + 1
            _enter(execution)
            _observe(execution, status, StepStatus.SUCCESS, kind, duration, None)
            if isinstance(output.get("client"), dict):
                execution.variables["client"] = output["client"]
            if status == ExecutionStatus.RUNNING:
                going_on.append((execution, actions))
        return going_on
    return []


async def _run_step(execution: Execution, index: int, action: Action, *, last: bool) -> bool:
    """Run one step with its retries; True to go on with the next step."""
    kind = action_type(action)
    handler = HANDLERS.get(kind)
    # Webhook header values and secrets: the same redaction as every other outward view.
    input_data = redact(redact_config(msgspec.to_builtins(action.config)))
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
                if status == ExecutionStatus.WAITING and resume_at is not None:
                    _resume_after_commit(execution.id, resume_at, index)
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
        # A parked execution (DELAY) goes on when its resume job runs, not now.
        return not (status == ExecutionStatus.WAITING and resume_at is not None)


def _resume_after_commit(execution_id: UUID, resume_at: datetime, index: int) -> None:
    """A DELAY step parked the execution: its resume job goes on the queue with the commit."""
    from app.worker.enqueue import enqueue_run

    key = f"resume:{execution_id}:{index}"
    enqueue_after_commit(lambda: enqueue_run(execution_id, at=resume_at, key=key))


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
    _observe(execution, status, log_status, action, duration_ms, error_message)


def _observe(
    execution: Execution,
    status: ExecutionStatus,
    log_status: StepStatus | None,
    action: str,
    duration_ms: int,
    error_message: str | None,
) -> None:
    """Metrics and the execution's final log line, once its commit went through."""
    if log_status is not None:
        metrics.step_attempt(
            action_type=action,
            outcome=log_status.value,
            workflow_id=execution.workflow_id,
            duration_s=duration_ms / 1000,
        )
    if status not in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED):
        return
    started = execution.started_at
    duration = None if started is None else (datetime.now(UTC) - started).total_seconds()
    metrics.execution_finished(
        status=status.value, workflow_id=execution.workflow_id, duration_s=duration
    )
    if status == ExecutionStatus.COMPLETED:
        log.info("engine.execution_completed", duration_s=duration)
    else:
        log.error("engine.execution_failed", duration_s=duration, error=error_message)


async def _log_retry(
    execution: Execution,
    index: int,
    kind: str,
    attempt: int,
    input_data: Any,
    error: ActionError,
    duration_ms: int,
) -> bool:
    if not await _commit_alone(
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
    ):
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
    if not await _commit_alone(
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
    ):
        return False
    log.warning(
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
    await _commit_alone(
        execution,
        step=execution.current_step,
        next_step=execution.current_step,
        status=ExecutionStatus.FAILED,
        error_message=f"the recorded definition cannot be read: {reason}",
    )


async def _commit_alone(execution: Execution, **fields: Any) -> bool:
    """_commit in a transaction of its own; False when the execution was superseded meanwhile."""
    try:
        async with unit_of_work():
            await _commit(execution, **fields)
    except _Superseded:
        return False
    return True
