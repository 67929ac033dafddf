"""Workflows, their executions and each execution's step log."""

from __future__ import annotations

from typing import Any

from piccolo.columns import (
    JSONB,
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    LazyTableReference,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from tables.crm import Clients
from tables.enums import ExecutionStatus, MatchReason, StepStatus, TriggerType, sql_in
from tables.tenancy import Tenants, Users

_EVENTS = LazyTableReference("Events", module_path="tables.events")


class Workflows(Table, tablename="workflows"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(references=Tenants, on_delete=OnDelete.cascade, null=False)
    name = Varchar(length=200)
    description = Text(default="")
    is_active = Boolean(default=False)
    is_template = Boolean(default=False)
    trigger_type = Varchar(length=40, choices=TriggerType)
    # For CUSTOM triggers, the event name lives in trigger_config {"event": "..."}.
    trigger_config = JSONB(default={})
    conditions = JSONB(null=True, default=None)
    actions = JSONB(default=[])
    version = Integer(default=1)
    created_by = ForeignKey(references=Users, on_delete=OnDelete.set_null, null=True)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    updated_at = Timestamptz(default=TimestamptzNow(), auto_update=TimestamptzNow().python)

    ck_workflows_trigger_type = Check(sql_in("trigger_type", TriggerType))
    ck_workflows_version = Check("version >= 1")


class WorkflowExecutions(Table, tablename="workflow_executions"):
    id = UUID(primary_key=True)
    # Denormalised from the workflow so tenant-scoped listings need no join.
    tenant = ForeignKey(references=Tenants, on_delete=OnDelete.cascade, null=False)
    workflow = ForeignKey(references=Workflows, on_delete=OnDelete.cascade, null=False, index=True)
    client = ForeignKey(references=Clients, on_delete=OnDelete.cascade, null=True, index=True)
    # Indexed: deleting an event (retention) sets this NULL, and retention asks "does a running
    # execution still need this event?".
    event: ForeignKey[Any] = ForeignKey(
        references=_EVENTS, on_delete=OnDelete.set_null, null=True, index=True
    )
    workflow_version = Integer()
    # The definition (conditions + actions) as it was at trigger time: the execution runs this.
    definition = JSONB(default={})
    status = Varchar(
        length=20, default=ExecutionStatus.PENDING.value, choices=ExecutionStatus, index=True
    )
    trigger_data = JSONB(default={})
    current_step = Integer(default=0)
    # Chain depth of the triggering event; events this execution causes carry depth + 1.
    depth = Integer(default=0)
    # When a DELAY step parks the execution (WAITING), the time it resumes.
    resume_at = Timestamptz(null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    completed_at = Timestamptz(null=True, default=None)
    error_message = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    updated_at = Timestamptz(default=TimestamptzNow(), auto_update=TimestamptzNow().python)

    uq_workflow_executions_workflow_event = Unique(["workflow", "event"])
    ck_workflow_executions_status = Check(sql_in("status", ExecutionStatus))
    ck_workflow_executions_current_step = Check("current_step >= 0")


class WorkflowExecutionLogs(Table, tablename="workflow_execution_logs"):
    id = UUID(primary_key=True)
    execution = ForeignKey(references=WorkflowExecutions, on_delete=OnDelete.cascade, null=False)
    step_index = Integer()
    action_type = Varchar(length=40)
    status = Varchar(length=20, choices=StepStatus)
    attempt = Integer(default=1)
    input_data = JSONB(default={})
    output_data = JSONB(null=True, default=None)
    error_message = Text(null=True, default=None)
    duration_ms = Integer(default=0)
    executed_at = Timestamptz(default=TimestamptzNow())
    created_at = Timestamptz(default=TimestamptzNow())

    ck_workflow_execution_logs_status = Check(sql_in("status", StepStatus))
    ck_workflow_execution_logs_attempt = Check("attempt >= 1")


class EventMatches(Table, tablename="event_matches"):
    """The engine's decision for one event and one workflow of its trigger type: why it ran or not.

    Written in the transaction that creates the event's executions.
    """

    id = UUID(primary_key=True)
    event: ForeignKey[Any] = ForeignKey(
        references=_EVENTS, on_delete=OnDelete.cascade, null=False, index=True
    )
    # Plain ids, not foreign keys: the decision outlives a deleted workflow or a pruned execution
    # (and needs no index for their deletes to set it null).
    workflow = UUID()
    workflow_name = Varchar(length=200)
    workflow_version = Integer()
    matched = Boolean()
    reason = Varchar(length=20, choices=MatchReason)
    # One line for people: "trigger_config.to wants ACTIVE; the event has CHURNED".
    message = Text()
    detail = JSONB(null=True, default=None)
    execution = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())

    ck_event_matches_reason = Check(sql_in("reason", MatchReason))


class WorkflowVersions(Table, tablename="workflow_versions"):
    """Every definition a workflow has had: one row per version, kept for diff and restore."""

    id = UUID(primary_key=True)
    workflow = ForeignKey(references=Workflows, on_delete=OnDelete.cascade, null=False)
    version = Integer()
    name = Varchar(length=200)
    trigger_type = Varchar(length=40, choices=TriggerType)
    trigger_config = JSONB(default={})
    conditions = JSONB(null=True, default=None)
    # As stored on the workflow: WEBHOOK secrets and header values encrypted.
    actions = JSONB(default=[])
    # Which version this one restored, if it was a restore.
    restored_from = Integer(null=True, default=None)
    created_by = ForeignKey(references=Users, on_delete=OnDelete.set_null, null=True)
    created_at = Timestamptz(default=TimestamptzNow())

    uq_workflow_versions_workflow_version = Unique(["workflow", "version"])
    ck_workflow_versions_version = Check("version >= 1")
