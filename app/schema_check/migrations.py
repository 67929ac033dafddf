"""`prisma migrate status` for Piccolo: what ran, what is pending, and whether tables/ is ahead."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from app.schema_check.catalog import MIGRATION_LEDGER

APP_NAME = "crmflow"


@dataclass
class MigrationStatus:
    files: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    # In piccolo_migrations/ but not recorded as run in the database.
    pending: list[str] = field(default_factory=list)
    # Recorded as run in the database but with no file: the database is ahead of the code.
    unknown: list[str] = field(default_factory=list)
    # What `piccolo migrations new crmflow --auto` would write (tables/ ahead of the migrations).
    auto_statements: list[str] = field(default_factory=list)
    ledger_missing: bool = False

    @property
    def ok(self) -> bool:
        return not (self.pending or self.unknown or self.auto_statements)

    def problems(self) -> list[str]:
        out = [f"migration {m} has not run" for m in self.pending]
        out += [
            f"migration {m} ran in the database but has no file in piccolo_migrations/"
            for m in self.unknown
        ]
        if self.auto_statements:
            out.append(
                f"tables/ is ahead of the migrations: an auto migration would hold "
                f"{len(self.auto_statements)} statement(s)"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": self.files,
            "applied": self.applied,
            "pending": self.pending,
            "unknown": self.unknown,
            "ledger_missing": self.ledger_missing,
            "auto_migration_statements": self.auto_statements,
            "problems": self.problems(),
        }


def _app_config() -> Any:
    from tables.piccolo_app import APP_CONFIG

    return APP_CONFIG


def migration_file_ids() -> list[str]:
    """The migration ids in piccolo_migrations/, in order."""
    from piccolo.apps.migrations.commands.base import BaseMigrationManager

    manager = BaseMigrationManager()
    modules = manager.get_migration_modules(_app_config().resolved_migrations_folder_path)
    return list(manager.get_migration_ids(modules))


async def auto_migration_statements(app_config: Any = None) -> list[str]:
    """The statements an auto migration would contain; empty when tables/ = migration history."""
    from piccolo.apps.migrations.commands.new import AutoMigrationManager

    # auto_input="n": never prompt ("did you rename…?"); a rename shows as drop + add.
    # Piccolo prints a summary table to stdout: keep it out of our (possibly JSON) output.
    with contextlib.redirect_stdout(io.StringIO()):
        alter = await AutoMigrationManager(auto_input="n").get_alter_statements(
            app_config=app_config or _app_config()
        )
    return [str(s) for s in chain.from_iterable(a.statements for a in alter)]


async def migration_status(conn: Any) -> MigrationStatus:
    """Compare Piccolo's ledger table (read only: never created here) with the files and tables/."""
    status = MigrationStatus(files=migration_file_ids())
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{MIGRATION_LEDGER}")
    ran: list[str] = []
    if exists:
        rows = await conn.fetch(
            f"SELECT name FROM public.{MIGRATION_LEDGER} WHERE app_name = $1",  # noqa: S608
            APP_NAME,
        )
        ran = [r["name"] for r in rows]
    else:
        status.ledger_missing = True
    status.applied = [m for m in status.files if m in ran]
    status.pending = [m for m in status.files if m not in ran]
    status.unknown = [m for m in ran if m not in status.files]
    status.auto_statements = await auto_migration_statements()
    return status
