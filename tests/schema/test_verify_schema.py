"""scripts/verify_schema.py as a real CLI: exit codes and every injected drift named."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

import asyncpg
import pytest
from piccolo.columns import Varchar
from piccolo.conf.apps import AppConfig
from piccolo.table import Table

from app.core.config import PROJECT_ROOT
from app.schema_check.migrations import auto_migration_statements
from tables import ALL_TABLES
from tables.indexes import COMPOSITE_INDEXES
from tables.piccolo_app import APP_CONFIG
from tests.schema.conftest import ScratchFactory
from tests.schema.helpers import VERIFY_SCRIPT, execute, run_verify


async def test_fresh_migrated_database_is_in_sync(pristine_url: str) -> None:
    run = await run_verify(pristine_url, "--json")
    assert run.code == 0, run.stdout + run.stderr
    report = run.report
    assert report["ok"] is True
    assert report["migrations"]["pending"] == []
    assert report["migrations"]["auto_migration_statements"] == []
    assert report["schema"]["differences"] == []
    assert report["schema"]["declared_tables"] == len(ALL_TABLES)
    checks = report["cascades"]["checks"]
    assert checks
    assert all(c["ok"] for c in checks)
    names = {c["name"] for c in checks}
    assert "delete workflow: tasks.execution set NULL (client_task)" in names
    assert "delete client: documents row deleted (document)" in names
    assert "delete user: api_keys row deleted (api_key)" in names
    assert "delete tenant: inbound_deliveries row deleted (delivery)" in names


async def test_the_suite_database_is_in_sync(database_url: str) -> None:
    run = await run_verify(database_url)
    assert run.code == 0, run.stdout + run.stderr
    assert "Result: IN SYNC (exit 0)" in run.stdout


async def _fk_name(url: str, table: str, column: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        name: str = await conn.fetchval(
            """SELECT con.conname FROM pg_constraint con
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
               WHERE con.contype = 'f' AND con.conrelid = $1::regclass AND a.attname = $2""",
            table,
            column,
        )
    finally:
        await conn.close()
    return name


DRIFTS: dict[str, tuple[list[str], list[str]]] = {
    # name: (SQL to inject, messages expected in the report)
    "dropped index": (
        ['DROP INDEX "ix_clients_tenant_created"'],
        ["index ix_clients_tenant_created missing"],
    ),
    "dropped partial index": (
        [
            'DROP INDEX "ix_events_undispatched"',
            'CREATE INDEX "ix_events_undispatched" ON events (created_at)',
        ],
        [
            "index ix_events_undispatched: partial predicate differs "
            "(declared dispatched_at IS NULL, live none)"
        ],
    ),
    "column made nullable": (
        ["ALTER TABLE clients ALTER COLUMN name DROP NOT NULL"],
        ["column clients.name: nullable differs (declared NOT NULL, live NULL)"],
    ),
    "column type changed": (
        ["ALTER TABLE clients ALTER COLUMN phone TYPE text"],
        ["column clients.phone: type differs (declared character varying(50), live text)"],
    ),
    "column default dropped": (
        ["ALTER TABLE workflows ALTER COLUMN version DROP DEFAULT"],
        ["column workflows.version: default differs (declared 1, live none)"],
    ),
    "extra column": (
        ["ALTER TABLE clients ADD COLUMN nickname text"],
        ["column clients.nickname extra (not declared)"],
    ),
    "missing table": (
        ["DROP TABLE inbound_deliveries"],
        ["table inbound_deliveries missing"],
    ),
    "extra table": (
        ["CREATE TABLE scratchpad (id int PRIMARY KEY)"],
        ["table scratchpad extra (not declared)"],
    ),
    "dropped check": (
        ["ALTER TABLE clients DROP CONSTRAINT ck_clients_status"],
        ["check ck_clients_status on clients (status) missing"],
    ),
    "changed check": (
        [
            "ALTER TABLE workflows DROP CONSTRAINT ck_workflows_version",
            "ALTER TABLE workflows ADD CONSTRAINT ck_workflows_version CHECK (version >= 0)",
        ],
        [
            "check ck_workflows_version: definition differs "
            "(declared CHECK (version >= 1), live CHECK (version >= 0))"
        ],
    ),
    "dropped unique": (
        ["ALTER TABLE users DROP CONSTRAINT uq_users_tenant_email"],
        ["unique uq_users_tenant_email on users (tenant, email) missing"],
    ),
    "extra index": (
        ["CREATE INDEX ix_adhoc ON notes (body)"],
        ["index ix_adhoc extra (not declared: notes USING btree (body))"],
    ),
}


@pytest.mark.parametrize("drift", sorted(DRIFTS))
async def test_each_drift_is_named_with_exit_2(scratch_db: ScratchFactory, drift: str) -> None:
    url = await scratch_db()
    statements, expected = DRIFTS[drift]
    await execute(url, *statements)
    run = await run_verify(url, "--json")
    assert run.code == 2, run.stdout + run.stderr
    assert run.report["ok"] is False
    for message in expected:
        assert any(m.startswith(message) for m in run.messages()), (message, run.messages())
    # Nothing else is reported: each drift is named precisely.
    assert len(run.messages()) == len(expected), run.messages()


async def test_all_drifts_at_once_are_named_in_the_text_report(
    scratch_db: ScratchFactory,
) -> None:
    url = await scratch_db()
    for statements, _ in DRIFTS.values():
        await execute(url, *statements)
    run = await run_verify(url)
    assert run.code == 2, run.stdout + run.stderr
    assert "Result: DRIFT (exit 2)" in run.stdout
    for _, expected in DRIFTS.values():
        for message in expected:
            assert message in run.stdout, (message, run.stdout)


async def test_fk_on_delete_change_is_named_and_the_cascade_fails(
    scratch_db: ScratchFactory,
) -> None:
    url = await scratch_db()
    name = await _fk_name(url, "tasks", "client")
    await execute(
        url,
        f'ALTER TABLE tasks DROP CONSTRAINT "{name}"',
        f'ALTER TABLE tasks ADD CONSTRAINT "{name}" FOREIGN KEY (client) REFERENCES clients (id) '
        "ON DELETE SET NULL ON UPDATE CASCADE",
    )
    run = await run_verify(url, "--json")
    assert run.code == 2
    assert "fk tasks.client: ON DELETE differs (declared CASCADE, live SET NULL)" in run.messages()
    assert "delete client: tasks row deleted (client_task)" in run.failed_cascades()


async def test_restrict_fk_fails_the_delete_chain(scratch_db: ScratchFactory) -> None:
    url = await scratch_db()
    name = await _fk_name(url, "documents", "uploaded_by")
    await execute(
        url,
        f'ALTER TABLE documents DROP CONSTRAINT "{name}"',
        f'ALTER TABLE documents ADD CONSTRAINT "{name}" FOREIGN KEY (uploaded_by) '
        "REFERENCES users (id) ON DELETE RESTRICT ON UPDATE CASCADE",
    )
    run = await run_verify(url, "--json")
    assert run.code == 2
    assert (
        "fk documents.uploaded_by: ON DELETE differs (declared SET NULL, live RESTRICT)"
        in run.messages()
    )
    assert "delete user: DELETE succeeds" in run.failed_cascades()


async def test_missing_table_also_fails_the_cascade_fixture(scratch_db: ScratchFactory) -> None:
    url = await scratch_db()
    await execute(url, "DROP TABLE inbound_deliveries")
    run = await run_verify(url, "--json")
    assert run.code == 2
    assert "fixture: insert inbound_deliveries (delivery)" in run.failed_cascades()


async def test_pending_migration_exits_2_and_says_so(scratch_db: ScratchFactory) -> None:
    url = await scratch_db()
    conn = await asyncpg.connect(url)
    try:
        last = await conn.fetchval("SELECT max(name) FROM migration WHERE app_name = 'crmflow'")
        await conn.execute("DELETE FROM migration WHERE name = $1", last)
    finally:
        await conn.close()
    run = await run_verify(url, "--json")
    assert run.code == 2
    assert run.report["migrations"]["pending"] == [last]
    assert f"migration {last} has not run" in run.report["migrations"]["problems"]
    text = await run_verify(url)
    assert text.code == 2
    assert f"migration {last} has not run" in text.stdout


async def test_migration_without_a_file_exits_2(scratch_db: ScratchFactory) -> None:
    url = await scratch_db()
    await execute(
        url,
        "INSERT INTO migration (name, app_name, ran_on) "
        "VALUES ('2099-01-01T00:00:00:000000', 'crmflow', now())",
    )
    run = await run_verify(url, "--json")
    assert run.code == 2
    assert run.report["migrations"]["unknown"] == ["2099-01-01T00:00:00:000000"]


async def test_tables_ahead_of_migrations_is_detected() -> None:
    class VerifyProbe(Table, tablename="verify_probe"):
        label = Varchar(length=10)

    ahead = AppConfig(
        app_name="crmflow",
        migrations_folder_path=APP_CONFIG.resolved_migrations_folder_path,
        table_classes=[*ALL_TABLES, VerifyProbe],
    )
    statements = await auto_migration_statements(ahead)
    assert any("verify_probe" in s for s in statements), statements
    assert await auto_migration_statements() == []


async def test_database_url_defaults_to_the_environment(pristine_url: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(VERIFY_SCRIPT),
        "--json",
        "--skip-cascades",
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": pristine_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, out + err
    report = json.loads(out)
    assert report["database"] == pristine_url
    assert report["cascades"]["skipped"] is True


async def test_unreachable_database_exits_1() -> None:
    run = await run_verify("postgresql://nobody:secret@127.0.0.1:1/nothing", "--json")
    assert run.code == 1, run.stdout + run.stderr
    assert run.report["ok"] is False
    assert "cannot connect" in run.report["error"]
    assert "secret" not in run.stdout
    text = await run_verify(f"postgresql://postgres@/nothing?host=/nonexistent-{uuid.uuid4().hex}")
    assert text.code == 1
    assert "cannot connect" in text.stdout


TABLE_NAMES = [t._meta.tablename for t in ALL_TABLES]


async def _fingerprint(url: str) -> dict[str, tuple[int, str | None]]:
    conn = await asyncpg.connect(url)
    try:
        out = {}
        for table in [*TABLE_NAMES, "migration"]:
            row = await conn.fetchrow(
                f"SELECT count(*) AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS h "  # noqa: S608
                f'FROM "{table}" t'
            )
            out[table] = (row["n"], row["h"])
    finally:
        await conn.close()
    return out


async def test_verify_leaves_every_row_as_it_was(scratch_db: ScratchFactory) -> None:
    from tests.schema.test_tables import fill_tenant

    url = await scratch_db()
    conn = await asyncpg.connect(url)
    try:
        for _ in range(3):
            await fill_tenant(conn)
    finally:
        await conn.close()
    before = await _fingerprint(url)
    assert all(n > 0 for n, _ in before.values()), before
    run = await run_verify(url, "--json")
    assert run.code == 0, run.stdout
    assert await _fingerprint(url) == before


def test_composite_indexes_are_all_checked(database_url: str) -> None:
    # Each declared composite index is part of the declared side of the diff.
    from app.schema_check.declared import declared_ddl

    ddl = declared_ddl()
    for index in COMPOSITE_INDEXES:
        assert index.create_sql in ddl
