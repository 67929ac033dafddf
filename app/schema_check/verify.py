"""Run every check against one database and collect the report."""

from __future__ import annotations

import asyncpg

from app.schema_check.cascades import check_cascades
from app.schema_check.catalog import read_catalog
from app.schema_check.declared import read_declared_catalog
from app.schema_check.diff import diff_catalogs
from app.schema_check.migrations import migration_status
from app.schema_check.report import Report

CONNECT_TIMEOUT_S = 15


class ConnectError(Exception):
    """The database cannot be reached."""


async def verify(database_url: str, *, cascades: bool = True) -> Report:
    """Migrations, declared-vs-live schema and delete cascades; never changes data."""
    try:
        conn = await asyncpg.connect(database_url, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ConnectError(f"cannot connect to the database: {type(exc).__name__}: {exc}") from exc
    report = Report(database=database_url)
    try:
        report.migrations = await migration_status(conn)
        live = await read_catalog(conn, "public")
        declared, built_in = await read_declared_catalog(conn, database_url)
        report.declared_tables = len(declared.tables)
        report.live_tables = len(live.tables)
        report.declared_built_in = built_in
        report.differences = diff_catalogs(declared, live)
        if cascades:
            report.cascades = await check_cascades(conn)
        else:
            report.cascades_skipped = True
    finally:
        await conn.close()
    return report
