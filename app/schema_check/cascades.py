"""Delete cascades, checked for real inside a transaction that is always rolled back.

A small tenant with one row of every kind is inserted, then each chain (delete a workflow, an
event, a client, a user, the tenant) runs in its own savepoint against that full fixture, and
every expected outcome (row deleted, column set NULL, row kept) is a named check.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

Outcome = Literal["deleted", "null", "kept"]


@dataclass(frozen=True)
class Row:
    key: str
    table: str
    values: dict[str, Any]
    # The primary key column, set to a fresh uuid (as text for a non-uuid key).
    pk: str = "id"


@dataclass(frozen=True)
class Expect:
    key: str
    outcome: Outcome
    column: str | None = None


@dataclass(frozen=True)
class Chain:
    name: str
    table: str
    key: str
    expects: tuple[Expect, ...]


@dataclass(frozen=True)
class CascadeCheck:
    name: str
    ok: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def fixture_rows() -> list[Row]:
    """One row of every kind, all under one fresh tenant; values reference other rows by key."""
    tag = uuid.uuid4().hex[:12]
    return [
        Row("tenant", "tenants", {"name": "verify", "slug": f"verify-{tag}"}),
        Row(
            "user",
            "users",
            {"tenant": "@tenant", "email": f"verify-{tag}@example.invalid", "role": "admin"},
        ),
        Row(
            "api_key",
            "api_keys",
            {
                "user": "@user",
                "prefix": "crm_verify",
                "key_hash": uuid.uuid4().hex + uuid.uuid4().hex,
            },
        ),
        Row(
            "client",
            "clients",
            {"tenant": "@tenant", "owner": "@user", "name": "Verify client", "status": "LEAD"},
        ),
        Row(
            "document",
            "documents",
            {
                "client": "@client",
                "uploaded_by": "@user",
                "filename": "a.pdf",
                "content_type": "application/pdf",
                "size_bytes": 1,
                "sha256": "0" * 64,
                "storage_key": f"verify/{tag}",
            },
        ),
        Row(
            "workflow",
            "workflows",
            {
                "tenant": "@tenant",
                "name": "verify",
                "trigger_type": "CLIENT_CREATED",
                "version": 1,
                "created_by": "@user",
            },
        ),
        Row(
            "event",
            "events",
            {"tenant": "@tenant", "type": "CLIENT_CREATED", "client": "@client", "actor": "@user"},
        ),
        Row("tenant_event", "events", {"tenant": "@tenant", "type": "verify", "actor": "@user"}),
        Row(
            "execution",
            "workflow_executions",
            {
                "tenant": "@tenant",
                "workflow": "@workflow",
                "client": "@client",
                "event": "@event",
                "workflow_version": 1,
                "status": "COMPLETED",
            },
        ),
        Row(
            "tenant_execution",
            "workflow_executions",
            {
                "tenant": "@tenant",
                "workflow": "@workflow",
                "workflow_version": 1,
                "status": "FAILED",
            },
        ),
        Row(
            "log_1",
            "workflow_execution_logs",
            {
                "execution": "@execution",
                "step_index": 0,
                "action_type": "SEND_EMAIL",
                "status": "SUCCESS",
            },
        ),
        Row(
            "log_2",
            "workflow_execution_logs",
            {
                "execution": "@execution",
                "step_index": 1,
                "action_type": "CREATE_TASK",
                "status": "SUCCESS",
            },
        ),
        Row(
            "tenant_log",
            "workflow_execution_logs",
            {
                "execution": "@tenant_execution",
                "step_index": 0,
                "action_type": "WEBHOOK",
                "status": "FAILED",
            },
        ),
        Row(
            "workflow_version",
            "workflow_versions",
            {
                "workflow": "@workflow",
                "version": 1,
                "name": "verify",
                "trigger_type": "CLIENT_CREATED",
                "created_by": "@user",
            },
        ),
        Row(
            "event_match",
            "event_matches",
            {
                "event": "@event",
                "workflow": "@workflow",
                "workflow_name": "verify",
                "workflow_version": 1,
                "matched": True,
                "reason": "MATCHED",
                "message": "verify",
                "execution": "@execution",
            },
        ),
        Row(
            "note",
            "notes",
            {"client": "@client", "author": "@user", "execution": "@execution", "body": "verify"},
        ),
        Row(
            "client_task",
            "tasks",
            {
                "tenant": "@tenant",
                "client": "@client",
                "assignee": "@user",
                "execution": "@execution",
                "title": "verify",
            },
        ),
        Row(
            "tenant_task",
            "tasks",
            {
                "tenant": "@tenant",
                "assignee": "@user",
                "execution": "@tenant_execution",
                "title": "verify",
            },
        ),
        Row(
            "client_email",
            "emails",
            {
                "tenant": "@tenant",
                "client": "@client",
                "execution": "@execution",
                "decided_by": "@user",
                "to": "a@example.invalid",
                "subject": "s",
                "body": "b",
            },
        ),
        Row(
            "tenant_email",
            "emails",
            {
                "tenant": "@tenant",
                "execution": "@tenant_execution",
                "to": "b@example.invalid",
                "subject": "s",
                "body": "b",
            },
        ),
        Row(
            "audit_log",
            "audit_logs",
            {
                "tenant": "@tenant",
                "user": "@user",
                "api_key": "@api_key",
                "action": "verify",
                "resource_type": "client",
            },
        ),
        Row(
            "webhook_source",
            "inbound_webhook_sources",
            {"tenant": "@tenant", "source": "verify", "secret_encrypted": "x"},
        ),
        Row(
            "delivery",
            "inbound_deliveries",
            {"tenant": "@tenant", "source": "verify", "delivery_id": tag, "event": "@event"},
        ),
        Row(
            "login_link",
            "login_links",
            {
                "user": "@user",
                "token_hash": uuid.uuid4().hex + uuid.uuid4().hex,
                "expires_at": datetime.now(UTC),
            },
        ),
        # Not tenant data (a console session names its user inside its value): kept by every
        # chain, present so that the fixture has one row in every declared table.
        Row("console_session", "console_sessions", {"value": b"{}"}, pk="key"),
    ]


# Rows that no delete chain reaches (no foreign key leads to them).
UNOWNED = frozenset({"console_session"})


async def insert_fixture(conn: Any) -> dict[str, uuid.UUID]:
    """A fresh fixture tenant (one row of every kind); returns the ids by key."""
    rows = fixture_rows()
    ids = {r.key: uuid.uuid4() for r in rows}
    for row in rows:
        await insert_row(conn, row, ids)
    return ids


def _d(key: str) -> Expect:
    return Expect(key, "deleted")


def _n(key: str, column: str) -> Expect:
    return Expect(key, "null", column)


def _k(key: str) -> Expect:
    return Expect(key, "kept")


def _chains(keys: list[str]) -> list[Chain]:
    return [
        Chain(
            "delete workflow",
            "workflows",
            "workflow",
            (
                _d("execution"),
                _d("tenant_execution"),
                _d("log_1"),
                _d("log_2"),
                _d("tenant_log"),
                _n("client_task", "execution"),
                _n("tenant_task", "execution"),
                _n("client_email", "execution"),
                _n("tenant_email", "execution"),
                _n("note", "execution"),
                _k("event"),
                _k("client"),
                _d("workflow_version"),
                # A plain id: the decision outlives the workflow it names.
                _k("event_match"),
            ),
        ),
        Chain(
            "delete event",
            "events",
            "event",
            (
                _n("execution", "event"),
                _n("delivery", "event"),
                _d("event_match"),
                _k("client"),
            ),
        ),
        Chain(
            "delete client",
            "clients",
            "client",
            (
                _d("document"),
                _d("note"),
                _d("client_task"),
                _d("client_email"),
                _d("event"),
                _d("event_match"),
                _d("execution"),
                _d("log_1"),
                _d("log_2"),
                _k("tenant_task"),
                _k("tenant_email"),
                _k("tenant_event"),
                _k("tenant_execution"),
                _k("tenant_log"),
                _k("workflow"),
                _k("user"),
                _n("delivery", "event"),
            ),
        ),
        Chain(
            "delete user",
            "users",
            "user",
            (
                _d("api_key"),
                _n("document", "uploaded_by"),
                _n("note", "author"),
                _n("client_task", "assignee"),
                _n("tenant_task", "assignee"),
                _n("client", "owner"),
                _n("event", "actor"),
                _n("tenant_event", "actor"),
                _n("audit_log", "user"),
                _n("audit_log", "api_key"),
                _n("workflow", "created_by"),
                _n("workflow_version", "created_by"),
                _n("client_email", "decided_by"),
                _d("login_link"),
                _k("console_session"),
                _k("client"),
                _k("document"),
                _k("workflow"),
                _k("tenant"),
            ),
        ),
        Chain(
            "delete tenant",
            "tenants",
            "tenant",
            (
                *(_d(k) for k in keys if k != "tenant" and k not in UNOWNED),
                *(_k(k) for k in sorted(UNOWNED)),
            ),
        ),
    ]


def _check_name(chain: Chain, row: Row, expect: Expect) -> str:
    if expect.outcome == "null":
        return f"{chain.name}: {row.table}.{expect.column} set NULL ({row.key})"
    return f"{chain.name}: {row.table} row {expect.outcome} ({row.key})"


async def insert_row(conn: Any, row: Row, ids: dict[str, uuid.UUID]) -> None:
    """Insert row with id ids[row.key]; "@key" values are replaced by ids[key]."""
    row_id = ids[row.key]
    values: dict[str, Any] = {row.pk: row_id if row.pk == "id" else str(row_id)}
    for column, value in row.values.items():
        values[column] = (
            ids[value[1:]] if isinstance(value, str) and value.startswith("@") else value
        )
    columns = ", ".join(f'"{c}"' for c in values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await conn.execute(
        f'INSERT INTO "{row.table}" ({columns}) VALUES ({params})',  # noqa: S608
        *values.values(),
    )


async def _evaluate(conn: Any, row: Row, expect: Expect, row_id: uuid.UUID) -> tuple[bool, str]:
    column = expect.column or row.pk
    found = await conn.fetchrow(
        f'SELECT "{column}" AS value FROM "{row.table}" WHERE "{row.pk}" = $1',  # noqa: S608
        row_id if row.pk == "id" else str(row_id),
    )
    if expect.outcome == "deleted":
        return found is None, "" if found is None else "row still exists"
    if found is None:
        return False, "row was deleted"
    if expect.outcome == "null":
        ok = found["value"] is None
        return ok, "" if ok else f"still {found['value']}"
    return True, ""


def _error(exc: BaseException) -> str:
    """One line: the server's message without its DETAIL (which may quote row contents)."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"


def _dependencies(row: Row) -> list[str]:
    return [v[1:] for v in row.values.values() if isinstance(v, str) and v.startswith("@")]


async def _insert_fixture(
    conn: Any, rows: list[Row], ids: dict[str, uuid.UUID], checks: list[CascadeCheck]
) -> set[str]:
    """Insert what can be inserted (each row in a savepoint); return the keys that could not."""
    missing: set[str] = set()
    for row in rows:
        blocked = [d for d in _dependencies(row) if d in missing]
        if blocked:
            missing.add(row.key)
            checks.append(
                CascadeCheck(
                    f"fixture: insert {row.table} ({row.key})",
                    False,
                    f"skipped: depends on {', '.join(blocked)}",
                )
            )
            continue
        savepoint = conn.transaction()
        await savepoint.start()
        try:
            await insert_row(conn, row, ids)
        except asyncpg.PostgresError as exc:
            await savepoint.rollback()
            missing.add(row.key)
            checks.append(
                CascadeCheck(f"fixture: insert {row.table} ({row.key})", False, _error(exc))
            )
        else:
            await savepoint.commit()
    if not missing:
        checks.append(
            CascadeCheck("fixture: one row of every kind inserted", True, f"{len(rows)} rows")
        )
    return missing


async def _run_chain(
    conn: Any,
    chain: Chain,
    by_key: dict[str, Row],
    ids: dict[str, uuid.UUID],
    missing: set[str],
    checks: list[CascadeCheck],
) -> None:
    savepoint = conn.transaction()
    await savepoint.start()
    try:
        try:
            await conn.execute(
                f'DELETE FROM "{chain.table}" WHERE id = $1',  # noqa: S608
                ids[chain.key],
            )
        except asyncpg.PostgresError as exc:
            checks.append(CascadeCheck(f"{chain.name}: DELETE succeeds", False, _error(exc)))
            return
        checks.append(CascadeCheck(f"{chain.name}: DELETE succeeds", True))
        for expect in chain.expects:
            if expect.key in missing:
                continue  # already failed as a fixture check
            row = by_key[expect.key]
            name = _check_name(chain, row, expect)
            try:
                ok, detail = await _evaluate(conn, row, expect, ids[expect.key])
            except asyncpg.PostgresError as exc:
                # The savepoint is aborted: the rest of this chain cannot be read.
                checks.append(CascadeCheck(name, False, _error(exc)))
                return
            checks.append(CascadeCheck(name, ok, detail))
    finally:
        await savepoint.rollback()


async def check_cascades(conn: Any) -> list[CascadeCheck]:
    """Run every chain on a throw-away fixture; nothing is ever committed."""
    rows = fixture_rows()
    by_key = {r.key: r for r in rows}
    ids = {r.key: uuid.uuid4() for r in rows}
    checks: list[CascadeCheck] = []
    outer = conn.transaction()
    await outer.start()
    try:
        await conn.execute("SET LOCAL lock_timeout = '10s'")
        await conn.execute("SET LOCAL statement_timeout = '60s'")
        missing = await _insert_fixture(conn, rows, ids, checks)
        for chain in _chains([r.key for r in rows]):
            if chain.key in missing:
                continue
            await _run_chain(conn, chain, by_key, ids, missing, checks)
    finally:
        await outer.rollback()
    return checks
