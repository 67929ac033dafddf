"""The tenant-fair outbox index (declared in tables/indexes.py).

The SQL is frozen here on purpose: a migration must keep meaning what it meant when it ran.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-24T22:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "fairness: undispatched events by tenant"

CREATE = (
    'CREATE INDEX IF NOT EXISTS "ix_events_tenant_undispatched" ON "events" ("tenant", "created_at") WHERE dispatched_at IS NULL',
)

DROP = ('DROP INDEX IF EXISTS "ix_events_tenant_undispatched"',)


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
