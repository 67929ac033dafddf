"""Multi-column and partial indexes.

Piccolo cannot declare these on a table (piccolo-orm#1188), so a migration creates them with the
SQL below and scripts/verify_schema.py expects exactly this list in the live database.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CompositeIndex:
    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None

    @property
    def create_sql(self) -> str:
        unique = "UNIQUE " if self.unique else ""
        cols = ", ".join(f'"{c}"' for c in self.columns)
        where = f" WHERE {self.where}" if self.where else ""
        return f'CREATE {unique}INDEX IF NOT EXISTS "{self.name}" ON "{self.table}" ({cols}){where}'

    @property
    def drop_sql(self) -> str:
        return f'DROP INDEX IF EXISTS "{self.name}"'


COMPOSITE_INDEXES: tuple[CompositeIndex, ...] = (
    # Matching: active workflows of a tenant and trigger type, no scan per event.
    CompositeIndex(
        "ix_workflows_tenant_trigger_active", "workflows", ("tenant", "trigger_type", "is_active")
    ),
    CompositeIndex(
        "ix_workflow_execution_logs_execution_step",
        "workflow_execution_logs",
        ("execution", "step_index"),
    ),
    # Keyset pagination of tenant-scoped listings: (tenant, created_at, id).
    CompositeIndex("ix_clients_tenant_created", "clients", ("tenant", "created_at", "id")),
    CompositeIndex(
        "ix_clients_tenant_status_created", "clients", ("tenant", "status", "created_at", "id")
    ),
    CompositeIndex("ix_clients_owner", "clients", ("owner",)),
    CompositeIndex("ix_tasks_tenant_created", "tasks", ("tenant", "created_at", "id")),
    CompositeIndex("ix_emails_tenant_created", "emails", ("tenant", "created_at", "id")),
    CompositeIndex("ix_events_tenant_created", "events", ("tenant", "created_at", "id")),
    CompositeIndex(
        "ix_workflow_executions_tenant_created",
        "workflow_executions",
        ("tenant", "created_at", "id"),
    ),
    CompositeIndex("ix_audit_logs_tenant_created", "audit_logs", ("tenant", "created_at", "id")),
    # The dispatch sweep looks only at events that never reached the queue.
    CompositeIndex(
        "ix_events_undispatched", "events", ("created_at",), where="dispatched_at IS NULL"
    ),
    # Fairness: a tenant's drainer claims its oldest undispatched events; the dispatch sweep
    # walks the tenants that have any.
    CompositeIndex(
        "ix_events_tenant_undispatched",
        "events",
        ("tenant", "created_at"),
        where="dispatched_at IS NULL",
    ),
    # The console's executions list filtered by status (and the overview's counts), by workflow,
    # and the workflows' last-24h activity: keyset order within each, no sort of a large set.
    CompositeIndex(
        "ix_workflow_executions_tenant_status_created",
        "workflow_executions",
        ("tenant", "status", "created_at", "id"),
    ),
    CompositeIndex(
        "ix_workflow_executions_workflow_created",
        "workflow_executions",
        ("workflow", "created_at", "id"),
    ),
    CompositeIndex(
        "ix_workflow_executions_tenant_completed",
        "workflow_executions",
        ("tenant", "completed_at"),
    ),
    # The resume sweep looks only at parked executions.
    CompositeIndex(
        "ix_workflow_executions_waiting_resume",
        "workflow_executions",
        ("resume_at",),
        where="status = 'WAITING'",
    ),
)
