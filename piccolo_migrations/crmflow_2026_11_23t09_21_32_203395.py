"""Multi-column and partial indexes Piccolo cannot declare (declared in tables/indexes.py).

The SQL is frozen here on purpose: a migration must keep meaning what it meant when it ran.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T09:21:32:203395"
VERSION = "1.38.0"
DESCRIPTION = "composite indexes"

CREATE = (
    'CREATE INDEX IF NOT EXISTS "ix_workflows_tenant_trigger_active" ON "workflows" ("tenant", "trigger_type", "is_active")',
    'CREATE INDEX IF NOT EXISTS "ix_workflow_execution_logs_execution_step" ON "workflow_execution_logs" ("execution", "step_index")',
    'CREATE INDEX IF NOT EXISTS "ix_clients_tenant_created" ON "clients" ("tenant", "created_at", "id")',
    'CREATE INDEX IF NOT EXISTS "ix_clients_tenant_status_created" ON "clients" ("tenant", "status", "created_at", "id")',
    'CREATE INDEX IF NOT EXISTS "ix_clients_owner" ON "clients" ("owner")',
    'CREATE INDEX IF NOT EXISTS "ix_tasks_tenant_created" ON "tasks" ("tenant", "created_at", "id")',
    'CREATE INDEX IF NOT EXISTS "ix_emails_tenant_created" ON "emails" ("tenant", "created_at", "id")',
    'CREATE INDEX IF NOT EXISTS "ix_events_tenant_created" ON "events" ("tenant", "created_at", "id")',
    'CREATE INDEX IF NOT EXISTS "ix_workflow_executions_tenant_created" ON "workflow_executions" ("tenant", "created_at", "id")',
    'CREATE INDEX IF NOT EXISTS "ix_audit_logs_tenant_created" ON "audit_logs" ("tenant", "created_at", "id")',
    'CREATE INDEX IF NOT EXISTS "ix_events_undispatched" ON "events" ("created_at") WHERE dispatched_at IS NULL',
    'CREATE INDEX IF NOT EXISTS "ix_workflow_executions_waiting_resume" ON "workflow_executions" ("resume_at") WHERE status = \'WAITING\'',
)

DROP = (
    'DROP INDEX IF EXISTS "ix_workflows_tenant_trigger_active"',
    'DROP INDEX IF EXISTS "ix_workflow_execution_logs_execution_step"',
    'DROP INDEX IF EXISTS "ix_clients_tenant_created"',
    'DROP INDEX IF EXISTS "ix_clients_tenant_status_created"',
    'DROP INDEX IF EXISTS "ix_clients_owner"',
    'DROP INDEX IF EXISTS "ix_tasks_tenant_created"',
    'DROP INDEX IF EXISTS "ix_emails_tenant_created"',
    'DROP INDEX IF EXISTS "ix_events_tenant_created"',
    'DROP INDEX IF EXISTS "ix_workflow_executions_tenant_created"',
    'DROP INDEX IF EXISTS "ix_audit_logs_tenant_created"',
    'DROP INDEX IF EXISTS "ix_events_undispatched"',
    'DROP INDEX IF EXISTS "ix_workflow_executions_waiting_resume"',
)


async def _run(statements: tuple[str, ...]) -> None:
    engine = engine_finder()
    assert engine is not None
    for statement in statements:
        await engine._run_in_new_connection(statement)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="crmflow", description=DESCRIPTION)

    async def create() -> None:
        await _run(CREATE)

    async def drop() -> None:
        await _run(DROP)

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
