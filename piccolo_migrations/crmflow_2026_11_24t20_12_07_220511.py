from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Check

ID = "2026-11-24T20:12:07:220511"
VERSION = "1.38.0"
DESCRIPTION = ""


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="crmflow", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="InboundWebhookSources",
        tablename="inbound_webhook_sources",
        column_name="kind",
        db_column_name="kind",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 20,
            "default": "standard",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": Enum(
                "SourceKind", {"STANDARD": "standard", "HUBSPOT": "hubspot"}
            ),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="InboundWebhookSources",
        tablename="inbound_webhook_sources",
        constraint_name="ck_inbound_webhook_sources_kind",
        constraint_class=Check,
        params={"condition": "kind IN ('standard', 'hubspot')"},
        schema=None,
    )

    return manager
