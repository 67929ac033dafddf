"""The Piccolo app holding every table; its migrations live in the top-level piccolo_migrations/."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from tables import ALL_TABLES

APP_CONFIG = AppConfig(
    app_name="crmflow",
    migrations_folder_path=str(Path(__file__).resolve().parent.parent / "piccolo_migrations"),
    table_classes=list(ALL_TABLES),
    migration_dependencies=[],
    commands=[],
)
