"""Executions for operators: list (filters, search), inspect, cancel, retry from the failed step
or from the start, and the same for everything matching a filter (bounded). Never commits."""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are $n parameters or enum members.

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Any, Literal
from uuid import UUID, uuid4

import asyncpg
import msgspec

from app.audit.service import record_audit
from app.core import metrics
from app.core.errors import ConflictError, FieldError, NotFoundError, UnprocessableError
from app.core.listing import FIRST_PAGE, PageQuery, Where, escape_like, keyset_rows
from app.core.sql import fetch, fetchrow
from app.core.uow import enqueue_after_commit, unit_of_work
from app.executions.schemas import (
    MAX_BULK,
    BulkRequest,
    BulkResult,
    ExecutionDetail,
    ExecutionFilter,
    ExecutionOut,
    ExecutionPage,
    StepLogOut,
)
from app.worker.enqueue import enqueue_all_past_dead, enqueue_run, run_job
from app.workflows.credentials import redact_config, redact_definition
from tables.enums import ExecutionStatus

RESOURCE = "workflow_execution"
COLUMNS = (
    "id, workflow, workflow_version, client, event, status, current_step, depth, trigger_data, "
    "resume_at, started_at, completed_at, error_message, created_at, updated_at"
)
CANCELLABLE = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING)
RETRYABLE = (ExecutionStatus.FAILED,)
# How long a text search (`q`) may read before the operator is asked to narrow it.
SEARCH_TIMEOUT_MS = 2000


def _fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "workflow_id": row["workflow"],
        "workflow_version": row["workflow_version"],
        "client_id": row["client"],
        "event_id": row["event"],
        "status": ExecutionStatus(row["status"]),
        "current_step": row["current_step"],
        "depth": row["depth"],
        "trigger_data": row["trigger_data"] or {},
        "resume_at": row["resume_at"],
        "started_at": row["started_at"],
        "completed_at": row["completed_at"],
        "error_message": row["error_message"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def to_out(row: Mapping[str, Any]) -> ExecutionOut:
    return ExecutionOut(**_fields(row))


def check_filter(f: ExecutionFilter, *, at: str) -> None:
    """422 for a filter no row could match by construction (`at`: "query." or "$.filter.")."""
    if f.created_after and f.created_before and f.created_after >= f.created_before:
        raise UnprocessableError(
            "The time range is empty.",
            errors=[FieldError(f"{at}created_before", "must be after created_after")],
        )


def filter_where(*, tenant_id: UUID, f: ExecutionFilter) -> Where:
    """The WHERE of the tenant's executions matching f (alias e): one definition for the list,
    the console and the bulk actions."""
    where = Where().equal("e.tenant", tenant_id)
    where.equal("e.workflow", f.workflow)
    where.equal("e.client", f.client)
    if f.status is not None:
        # A literal, not a $n: the statuses are a closed enum, and a prepared statement's generic
        # plan cannot tell a rare status (WAITING: 0.1 % of a million rows) from a common one,
        # so it would walk the created_at index filtering ~50,000 rows for one page. With the
        # value in the text the planner takes the (tenant, status, created_at) index.
        status = ExecutionStatus(f.status).value
        where.add(f"e.status = '{status}'")
    if f.event_type is not None:
        # trigger_data is the event as the execution saw it; it outlives the event row.
        where.add(f"e.trigger_data->>'type' = {where.param(f.event_type)}")
    where.created_between("e", f.created_after, f.created_before)
    if f.q is not None:
        pattern = where.param(f"%{escape_like(f.q)}%")
        where.add(f"(e.trigger_data::text ILIKE {pattern} OR e.error_message ILIKE {pattern})")
    return where


async def list_executions(
    *,
    tenant_id: UUID,
    workflow_id: UUID | None = None,
    client_id: UUID | None = None,
    status: ExecutionStatus | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    event_type: str | None = None,
    q: str | None = None,
    page: PageQuery = FIRST_PAGE,
    search_timeout_ms: int = SEARCH_TIMEOUT_MS,
) -> ExecutionPage:
    """The tenant's executions, newest first, filtered; keyset pages."""
    f = ExecutionFilter(
        status=status,
        workflow=workflow_id,
        client=client_id,
        event_type=event_type,
        created_after=created_after,
        created_before=created_before,
        q=q,
    )
    check_filter(f, at="query.")
    async with _search_bound(q is not None, search_timeout_ms):
        rows, next_cursor = await keyset_rows(
            select=", ".join(f"e.{c}" for c in COLUMNS.split(", ")),
            from_="workflow_executions e",
            where=filter_where(tenant_id=tenant_id, f=f),
            alias="e",
            page=page,
        )
    return ExecutionPage(items=[to_out(r) for r in rows], next_cursor=next_cursor)


@asynccontextmanager
async def _search_bound(active: bool, timeout_ms: int) -> AsyncIterator[None]:
    """A text search reads rows until it has a page: a rare word over a million executions
    reads them all. Bounded in time, so one search cannot hold a connection for seconds; past
    the bound the operator is asked to narrow it (the same answer from the API and the console).
    """
    if not active:
        yield
        return
    try:
        async with unit_of_work():
            await fetch(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            yield
    except asyncpg.QueryCanceledError:
        raise UnprocessableError(
            f"The text search did not find a page within {timeout_ms / 1000:g} s; narrow it "
            "with a time range, a status, a workflow or a client.",
            errors=[FieldError("query.q", "search too broad; add other filters")],
        ) from None


async def _row(*, tenant_id: UUID, execution_id: UUID, lock: bool = False) -> Any:
    row = await fetchrow(
        f"SELECT {COLUMNS}, definition FROM workflow_executions WHERE id = $1 AND tenant = $2"
        + (" FOR UPDATE" if lock else ""),
        execution_id,
        tenant_id,
    )
    if row is None:
        raise NotFoundError("No such execution.")
    return row


async def get_execution(*, tenant_id: UUID, execution_id: UUID) -> ExecutionDetail:
    """One execution with its definition and every step attempt, in order."""
    row = await _row(tenant_id=tenant_id, execution_id=execution_id)
    logs = await fetch(
        """
        SELECT id, step_index, action_type, status, attempt, input_data, output_data,
               error_message, duration_ms, executed_at
        FROM workflow_execution_logs WHERE execution = $1
        ORDER BY step_index, executed_at, created_at, attempt
        """,
        execution_id,
    )
    return ExecutionDetail(
        **_fields(row),
        # Recorded definitions and step inputs hold encrypted (or, before encryption, clear)
        # credentials: redacted here, on the way out, so older rows are covered too.
        definition=redact_definition(row["definition"] or {}),
        logs=[
            StepLogOut(
                id=r["id"],
                step_index=r["step_index"],
                action_type=r["action_type"],
                status=r["status"],
                attempt=r["attempt"],
                input_data=redact_config(r["input_data"]),
                output_data=r["output_data"],
                error_message=r["error_message"],
                duration_ms=r["duration_ms"],
                executed_at=r["executed_at"],
            )
            for r in logs
        ],
    )


async def cancel_execution(*, tenant_id: UUID, execution_id: UUID) -> ExecutionOut:
    """PENDING/RUNNING/WAITING → CANCELLED; a running one stops before its next step commits."""
    before = await _row(tenant_id=tenant_id, execution_id=execution_id, lock=True)
    if before["status"] not in CANCELLABLE:
        raise ConflictError(
            f"The execution is {before['status']}; only PENDING, RUNNING or WAITING ones can be "
            "cancelled."
        )
    row = await fetchrow(
        f"""
        UPDATE workflow_executions
        SET status = 'CANCELLED', completed_at = now(), resume_at = NULL, updated_at = now()
        WHERE id = $1 RETURNING {COLUMNS}
        """,
        execution_id,
    )
    assert row is not None  # locked above
    started = row["started_at"] or row["created_at"]
    metrics.execution_finished(
        status=ExecutionStatus.CANCELLED.value,
        workflow_id=row["workflow"],
        duration_s=(row["completed_at"] - started).total_seconds(),
    )
    await record_audit(
        tenant_id=tenant_id,
        action="cancel",
        resource_type=RESOURCE,
        resource_id=execution_id,
        before={"status": before["status"]},
        after={"status": ExecutionStatus.CANCELLED.value},
    )
    return to_out(row)


async def retry_execution(
    *, tenant_id: UUID, execution_id: UUID, from_start: bool = False
) -> ExecutionOut:
    """FAILED → PENDING at the failed step (or at the first); its run is enqueued on commit.

    From the start, every step runs again, effects included (a note, a task, an email draft):
    that is the person's choice, and the audit log records it.
    """
    before = await _row(tenant_id=tenant_id, execution_id=execution_id, lock=True)
    if before["status"] != ExecutionStatus.FAILED:
        raise ConflictError(
            f"The execution is {before['status']}; only FAILED ones can be retried."
        )
    row = await fetchrow(
        f"""
        UPDATE workflow_executions
        SET status = 'PENDING', completed_at = NULL, error_message = NULL, resume_at = NULL,
            current_step = CASE WHEN $2 THEN 0 ELSE current_step END, updated_at = now()
        WHERE id = $1 RETURNING {COLUMNS}
        """,
        execution_id,
        from_start,
    )
    assert row is not None  # locked above
    await record_audit(
        tenant_id=tenant_id,
        action="retry_from_start" if from_start else "retry",
        resource_type=RESOURCE,
        resource_id=execution_id,
        before={
            "status": before["status"],
            "error_message": before["error_message"],
            "current_step": before["current_step"],
        },
        after={"status": ExecutionStatus.PENDING.value, "current_step": row["current_step"]},
    )
    # If the queue is down, the recovery sweep picks the PENDING execution up.
    key = retry_key(execution_id, str(row["updated_at"].timestamp()))
    enqueue_after_commit(lambda: enqueue_run(execution_id, key=key))
    return to_out(row)


def retry_key(execution_id: UUID, token: str) -> str:
    """The run job's key after a retry: one job per retry, a double submit enqueues one run."""
    return f"retry:{execution_id}:{token}"


async def bulk_action(*, tenant_id: UUID, action: str, request: BulkRequest) -> BulkResult:
    """Cancel or retry every execution matching a filter, bounded, confirmed and audited.

    Without `confirm`: a preview, the count of executions the action applies to (those in a state
    it can act on; counted up to MAX_BULK + 1, never a full COUNT(*)). With `confirm` equal to
    the count at this moment: the rows are locked, changed in one statement, and each gets its
    audit row like its single twin, plus one row for the bulk action and its filter. Call inside
    unit_of_work(); retried ones are enqueued once it commits.
    """
    from_start = action == "retry" and request.from_start
    name: Literal["cancel", "retry", "retry_from_start"] = (
        "cancel" if action == "cancel" else "retry_from_start" if from_start else "retry"
    )
    f = request.filter
    check_filter(f, at="$.filter.")
    eligible = [s.value for s in (CANCELLABLE if action == "cancel" else RETRYABLE)]
    where = filter_where(tenant_id=tenant_id, f=f)
    where.add(f"e.status = ANY({where.param(eligible)}::text[])")
    lock = " FOR UPDATE OF e" if request.confirm is not None else ""
    rows = await fetch(
        f"SELECT e.id, e.status, e.current_step, e.error_message, e.workflow, e.started_at, "
        f"e.created_at FROM workflow_executions e WHERE {where.sql()} "
        f"ORDER BY e.created_at, e.id LIMIT {MAX_BULK + 1}{lock}",
        *where.args,
    )
    count = len(rows)
    result = BulkResult(
        action=name,
        count=count,
        too_many=count > MAX_BULK,
        limit=MAX_BULK,
        applied=False,
        ids=[r["id"] for r in rows[:MAX_BULK]],
    )
    if request.confirm is None:
        return result
    if result.too_many:
        raise UnprocessableError(
            f"More than {MAX_BULK} executions match; narrow the filter (a bulk action touches "
            f"at most {MAX_BULK}).",
            errors=[FieldError("$.filter", f"matches more than {MAX_BULK} executions")],
        )
    if request.confirm != count:
        raise ConflictError(
            f"{count} executions match now, not the {request.confirm} you confirmed; nothing "
            "was done. Look at the count again."
        )
    ids = [r["id"] for r in rows]
    if action == "cancel":
        changed = await fetch(
            """
            UPDATE workflow_executions
            SET status = 'CANCELLED', completed_at = now(), resume_at = NULL, updated_at = now()
            WHERE id = ANY($1::uuid[]) RETURNING id, workflow, started_at, created_at, completed_at
            """,
            ids,
        )
        for r in changed:
            metrics.execution_finished(
                status=ExecutionStatus.CANCELLED.value,
                workflow_id=r["workflow"],
                duration_s=(
                    r["completed_at"] - (r["started_at"] or r["created_at"])
                ).total_seconds(),
            )
        after: dict[str, Any] = {"status": ExecutionStatus.CANCELLED.value}
    else:
        await fetch(
            """
            UPDATE workflow_executions
            SET status = 'PENDING', completed_at = NULL, error_message = NULL, resume_at = NULL,
                current_step = CASE WHEN $2 THEN 0 ELSE current_step END, updated_at = now()
            WHERE id = ANY($1::uuid[])
            """,
            ids,
            from_start,
        )
        after = {"status": ExecutionStatus.PENDING.value}
    for r in rows:
        before: dict[str, Any] = {"status": r["status"]}
        row_after = dict(after)
        if action == "retry":
            before["error_message"] = r["error_message"]
            before["current_step"] = r["current_step"]
            row_after["current_step"] = 0 if from_start else r["current_step"]
        await record_audit(
            tenant_id=tenant_id,
            action=name,
            resource_type=RESOURCE,
            resource_id=r["id"],
            before=before,
            after={**row_after, "bulk": True},
        )
    await record_audit(
        tenant_id=tenant_id,
        action=f"bulk_{name}",
        resource_type=RESOURCE,
        resource_id=None,
        after={"filter": msgspec.to_builtins(f), "count": count},
    )
    if action == "retry":
        enqueue_after_commit(partial(_enqueue_retries, ids))
    return BulkResult(
        action=name, count=count, too_many=False, limit=MAX_BULK, applied=True, ids=ids
    )


async def _enqueue_retries(ids: list[UUID]) -> None:
    """Run jobs for executions a bulk retry made PENDING (the recovery sweep is the net)."""
    token = uuid4().hex
    await enqueue_all_past_dead(
        "engine.run_execution", (run_job(i, key=retry_key(i, token)) for i in ids)
    )
