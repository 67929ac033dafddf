"""The database itself enforces the schema: CHECKs, uniques and delete cascades.

Every test works in a transaction that is rolled back, on the suite's migrated database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from app.schema_check.cascades import insert_fixture


async def fill_tenant(conn: Any) -> dict[str, uuid.UUID]:
    """A tenant with one row in every table (the verify script's cascade fixture)."""
    return await insert_fixture(conn)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[Any]:
    connection = await asyncpg.connect(database_url)
    tr = connection.transaction()
    await tr.start()
    try:
        yield connection
    finally:
        await tr.rollback()
        await connection.close()


@pytest.fixture
async def ids(conn: Any) -> dict[str, uuid.UUID]:
    return await fill_tenant(conn)


async def rejects(
    conn: Any, error: type[Exception], constraint: str, sql: str, *args: object
) -> None:
    """sql fails with error on constraint; the surrounding transaction stays usable."""
    with pytest.raises(error) as info:
        async with conn.transaction():
            await conn.execute(sql, *args)
    assert info.value.constraint_name == constraint


async def accepts(conn: Any, sql: str, *args: object) -> None:
    async with conn.transaction():
        await conn.execute(sql, *args)


async def count(conn: Any, table: str, column: str, value: uuid.UUID | str) -> int:
    n: int = await conn.fetchval(
        f'SELECT count(*) FROM "{table}" WHERE "{column}" = $1',  # noqa: S608
        value,
    )
    return n


# --- CHECK constraints: the closed vocabularies ---------------------------------------------

BAD_VALUES = [
    (
        "clients",
        "status",
        "ck_clients_status",
        "INSERT INTO clients (id, tenant, name, status) VALUES ($1, $2, $3, $4)",
        "PROSPECT",
    ),
    (
        "users",
        "role",
        "ck_users_role",
        "INSERT INTO users (id, tenant, email, role) VALUES ($1, $2, $3, $4)",
        "owner",
    ),
    (
        "tasks",
        "priority",
        "ck_tasks_priority",
        "INSERT INTO tasks (id, tenant, title, priority) VALUES ($1, $2, $3, $4)",
        "CRITICAL",
    ),
    (
        "tasks",
        "status",
        "ck_tasks_status",
        "INSERT INTO tasks (id, tenant, title, status) VALUES ($1, $2, $3, $4)",
        "WONTFIX",
    ),
    (
        "emails",
        "status",
        "ck_emails_status",
        'INSERT INTO emails (id, tenant, "to", subject, body, status) '
        "VALUES ($1, $2, $3, 's', 'b', $4)",
        "QUEUED",
    ),
    (
        "workflows",
        "trigger_type",
        "ck_workflows_trigger_type",
        "INSERT INTO workflows (id, tenant, name, trigger_type) VALUES ($1, $2, $3, $4)",
        "CRON",
    ),
]


@pytest.mark.parametrize(
    ("table", "column", "constraint", "sql", "bad"),
    BAD_VALUES,
    ids=[f"{t}.{c}" for t, c, *_ in BAD_VALUES],
)
async def test_unknown_enum_value_is_rejected(
    conn: Any,
    ids: dict[str, uuid.UUID],
    table: str,
    column: str,
    constraint: str,
    sql: str,
    bad: str,
) -> None:
    label = f"x{uuid.uuid4().hex[:6]}@example.invalid"
    await rejects(
        conn, asyncpg.CheckViolationError, constraint, sql, uuid.uuid4(), ids["tenant"], label, bad
    )
    # Lower-case or padded spellings of a valid value are not valid either.
    if table != "users":
        await rejects(
            conn,
            asyncpg.CheckViolationError,
            constraint,
            sql,
            uuid.uuid4(),
            ids["tenant"],
            label,
            "lead" if column == "status" else "",
        )


async def test_execution_and_step_statuses_are_checked(
    conn: Any, ids: dict[str, uuid.UUID]
) -> None:
    await rejects(
        conn,
        asyncpg.CheckViolationError,
        "ck_workflow_executions_status",
        "INSERT INTO workflow_executions (id, tenant, workflow, workflow_version, "
        "status) VALUES ($1, $2, $3, 1, 'DONE')",
        uuid.uuid4(),
        ids["tenant"],
        ids["workflow"],
    )
    await rejects(
        conn,
        asyncpg.CheckViolationError,
        "ck_workflow_execution_logs_status",
        "INSERT INTO workflow_execution_logs (id, execution, step_index, action_type, "
        "status) VALUES ($1, $2, 0, 'SEND_EMAIL', 'OK')",
        uuid.uuid4(),
        ids["execution"],
    )
    await rejects(
        conn,
        asyncpg.CheckViolationError,
        "ck_workflow_execution_logs_attempt",
        "INSERT INTO workflow_execution_logs (id, execution, step_index, action_type, "
        "status, attempt) VALUES ($1, $2, 0, 'SEND_EMAIL', 'SUCCESS', 0)",
        uuid.uuid4(),
        ids["execution"],
    )
    await rejects(
        conn,
        asyncpg.CheckViolationError,
        "ck_workflows_version",
        "UPDATE workflows SET version = 0 WHERE id = $1",
        ids["workflow"],
    )
    await rejects(
        conn,
        asyncpg.CheckViolationError,
        "ck_events_depth",
        "UPDATE events SET depth = -1 WHERE id = $1",
        ids["event"],
    )
    await rejects(
        conn,
        asyncpg.CheckViolationError,
        "ck_documents_size",
        "UPDATE documents SET size_bytes = -1 WHERE id = $1",
        ids["document"],
    )


# --- uniques ----------------------------------------------------------------------------------


async def test_user_email_is_unique_per_tenant(conn: Any, ids: dict[str, uuid.UUID]) -> None:
    sql = "INSERT INTO users (id, tenant, email) VALUES ($1, $2, $3)"
    await accepts(conn, sql, uuid.uuid4(), ids["tenant"], "dup@example.invalid")
    await rejects(
        conn,
        asyncpg.UniqueViolationError,
        "uq_users_tenant_email",
        sql,
        uuid.uuid4(),
        ids["tenant"],
        "dup@example.invalid",
    )
    other = await fill_tenant(conn)
    await accepts(conn, sql, uuid.uuid4(), other["tenant"], "dup@example.invalid")


async def test_tenant_slug_is_unique(conn: Any, ids: dict[str, uuid.UUID]) -> None:
    slug = await conn.fetchval("SELECT slug FROM tenants WHERE id = $1", ids["tenant"])
    await rejects(
        conn,
        asyncpg.UniqueViolationError,
        "tenants_slug_key",
        "INSERT INTO tenants (id, name, slug) VALUES ($1, 'x', $2)",
        uuid.uuid4(),
        slug,
    )


async def test_idempotency_key_is_unique_per_tenant(conn: Any, ids: dict[str, uuid.UUID]) -> None:
    sql = "INSERT INTO events (id, tenant, type, idempotency_key) VALUES ($1, $2, 'X', $3)"
    await accepts(conn, sql, uuid.uuid4(), ids["tenant"], "key-1")
    await rejects(
        conn,
        asyncpg.UniqueViolationError,
        "uq_events_tenant_idempotency_key",
        sql,
        uuid.uuid4(),
        ids["tenant"],
        "key-1",
    )
    # Events without a key never collide; another tenant may reuse the key.
    await accepts(conn, sql, uuid.uuid4(), ids["tenant"], None)
    await accepts(conn, sql, uuid.uuid4(), ids["tenant"], None)
    other = await fill_tenant(conn)
    await accepts(conn, sql, uuid.uuid4(), other["tenant"], "key-1")


async def test_one_execution_per_workflow_and_event(conn: Any, ids: dict[str, uuid.UUID]) -> None:
    sql = (
        "INSERT INTO workflow_executions (id, tenant, workflow, event, workflow_version) "
        "VALUES ($1, $2, $3, $4, 1)"
    )
    # The fixture already has an execution of (workflow, event).
    await rejects(
        conn,
        asyncpg.UniqueViolationError,
        "uq_workflow_executions_workflow_event",
        sql,
        uuid.uuid4(),
        ids["tenant"],
        ids["workflow"],
        ids["event"],
    )
    await accepts(conn, sql, uuid.uuid4(), ids["tenant"], ids["workflow"], ids["tenant_event"])


async def test_inbound_delivery_is_unique_per_tenant_and_source(
    conn: Any,
    ids: dict[str, uuid.UUID],
) -> None:
    sql = "INSERT INTO inbound_deliveries (id, tenant, source, delivery_id) VALUES ($1, $2, $3, $4)"
    await accepts(conn, sql, uuid.uuid4(), ids["tenant"], "stripe", "evt_1")
    await rejects(
        conn,
        asyncpg.UniqueViolationError,
        "uq_inbound_deliveries_tenant_source_delivery",
        sql,
        uuid.uuid4(),
        ids["tenant"],
        "stripe",
        "evt_1",
    )
    await accepts(conn, sql, uuid.uuid4(), ids["tenant"], "github", "evt_1")
    other = await fill_tenant(conn)
    await accepts(conn, sql, uuid.uuid4(), other["tenant"], "stripe", "evt_1")


async def test_not_null_and_foreign_keys_are_enforced(conn: Any, ids: dict[str, uuid.UUID]) -> None:
    with pytest.raises(asyncpg.NotNullViolationError):
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO clients (id, tenant, name) VALUES ($1, NULL, 'x')", uuid.uuid4()
            )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO clients (id, tenant, name) VALUES ($1, $2, 'x')",
                uuid.uuid4(),
                uuid.uuid4(),
            )


# --- delete cascades --------------------------------------------------------------------------


async def test_deleting_a_workflow_removes_its_executions_and_logs(
    conn: Any,
    ids: dict[str, uuid.UUID],
) -> None:
    await conn.execute("DELETE FROM workflows WHERE id = $1", ids["workflow"])
    assert await count(conn, "workflow_executions", "workflow", ids["workflow"]) == 0
    for key in ("execution", "tenant_execution"):
        assert await count(conn, "workflow_execution_logs", "execution", ids[key]) == 0
    # What the executions produced stays, unlinked.
    for table, key in [
        ("tasks", "client_task"),
        ("tasks", "tenant_task"),
        ("emails", "client_email"),
        ("emails", "tenant_email"),
        ("notes", "note"),
    ]:
        row = await conn.fetchrow(
            f'SELECT execution FROM "{table}" WHERE id = $1',  # noqa: S608
            ids[key],
        )
        assert row is not None, (table, key)
        assert row["execution"] is None, (table, key)


async def test_deleting_a_client_removes_what_hangs_off_it(
    conn: Any,
    ids: dict[str, uuid.UUID],
) -> None:
    await conn.execute("DELETE FROM clients WHERE id = $1", ids["client"])
    for table in ("documents", "notes", "tasks", "emails", "events", "workflow_executions"):
        assert await count(conn, table, "client", ids["client"]) == 0, table
    assert await count(conn, "workflow_execution_logs", "execution", ids["execution"]) == 0
    # Tenant-level rows without a client survive.
    for table, key in [
        ("tasks", "tenant_task"),
        ("emails", "tenant_email"),
        ("events", "tenant_event"),
        ("workflow_executions", "tenant_execution"),
    ]:
        assert await count(conn, table, "id", ids[key]) == 1, table
    delivery_event = await conn.fetchval(
        "SELECT event FROM inbound_deliveries WHERE id = $1", ids["delivery"]
    )
    assert delivery_event is None


async def test_deleting_a_user_nulls_references_and_removes_keys(
    conn: Any,
    ids: dict[str, uuid.UUID],
) -> None:
    await conn.execute("DELETE FROM users WHERE id = $1", ids["user"])
    assert await count(conn, "api_keys", "user", ids["user"]) == 0
    references = [
        ("documents", "uploaded_by"),
        ("notes", "author"),
        ("tasks", "assignee"),
        ("clients", "owner"),
        ("events", "actor"),
        ("audit_logs", "user"),
        ("workflows", "created_by"),
        ("emails", "decided_by"),
    ]
    for table, column in references:
        assert await count(conn, table, column, ids["user"]) == 0, (table, column)
    assert await count(conn, "clients", "id", ids["client"]) == 1
    assert await count(conn, "audit_logs", "id", ids["audit_log"]) == 1


async def test_deleting_a_tenant_removes_everything_it_owns(
    conn: Any,
    ids: dict[str, uuid.UUID],
) -> None:
    other = await fill_tenant(conn)
    await conn.execute("DELETE FROM tenants WHERE id = $1", ids["tenant"])
    from app.schema_check.cascades import UNOWNED, fixture_rows

    for row in fixture_rows():
        if row.key in UNOWNED:
            continue
        assert await count(conn, row.table, row.pk, ids[row.key]) == 0, row.key
        assert await count(conn, row.table, row.pk, other[row.key]) == 1, row.key


async def test_the_verify_cascade_check_passes_in_process(conn: Any) -> None:
    from app.schema_check.cascades import check_cascades

    # Inside our rolled-back transaction, its own transaction is a savepoint.
    checks = await check_cascades(conn)
    assert checks
    assert [c.name for c in checks if not c.ok] == []
