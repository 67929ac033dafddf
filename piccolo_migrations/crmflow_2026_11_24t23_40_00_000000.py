"""Data: audit actions are bare snake_case verbs (issue 10 item 5).

Rows written before the rule carry the resource in the action (`workflow.create`,
`email.sent`, …); the resource is already in `resource_type`, and `GET /audit-logs?action=`
filters on the verb, so old rows are renamed to the verb the code writes today. The mapping is
frozen here on purpose: a migration must keep meaning what it meant when it ran. Backwards is a
no-op (the old names said nothing the new ones do not).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-24T23:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit actions as bare verbs"

RENAMED = {
    "workflow.create": "create",
    "workflow.update": "update",
    "workflow.delete": "delete",
    "workflow.activate": "activate",
    "workflow.deactivate": "deactivate",
    "workflow.trigger": "trigger",
    "workflow.restore": "restore",
    "email.approve": "approve",
    "email.reject": "reject",
    "email.resend": "resend",
    "email.sent": "send",
    "email.failed": "fail",
    "webhook_source.create": "create",
    "webhook_source.rotate": "rotate",
    "webhook_source.delete": "delete",
    "console.sign_in": "sign_in",
}


async def _rename() -> None:
    engine = engine_finder()
    assert engine is not None
    connection = await engine.get_new_connection()
    try:
        await connection.execute(
            "UPDATE audit_logs AS a SET action = m.new "
            "FROM unnest($1::text[], $2::text[]) AS m(old, new) WHERE a.action = m.old",
            list(RENAMED),
            list(RENAMED.values()),
        )
    finally:
        await connection.close()


async def _nothing() -> None:
    return None


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="crmflow", description=DESCRIPTION)
    manager.add_raw(_rename)
    manager.add_raw_backwards(_nothing)
    return manager
