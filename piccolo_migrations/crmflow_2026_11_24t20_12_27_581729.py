from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Unique

ID = "2026-11-24T20:12:27:581729"
VERSION = "1.38.0"
DESCRIPTION = ""


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="crmflow", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Clients",
        tablename="clients",
        column_name="external_id",
        db_column_name="external_id",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 200,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="Clients",
        tablename="clients",
        constraint_name="uq_clients_tenant_external_id",
        constraint_class=Unique,
        params={"columns": ["tenant", "external_id"], "nulls_distinct": True},
        schema=None,
    )

    return manager
