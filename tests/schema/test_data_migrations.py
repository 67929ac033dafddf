"""Data migrations: they rewrite rows written under an older rule, and only those."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg

from app.core.migrate import migrate_forwards
from app.schema_check.cascades import insert_fixture
from tests.schema.conftest import ScratchFactory


async def test_the_data_migration_normalises_existing_tags(scratch_db: ScratchFactory) -> None:
    url = await scratch_db()
    conn = await asyncpg.connect(url)
    try:
        ids = await insert_fixture(conn)
        await conn.execute(
            "UPDATE clients SET tags = $2 WHERE id = $1", ids["client"], ["VIP", " vip", "Gold"]
        )
        wf = uuid.uuid4()
        conditions = {
            "any": [
                {"field": "client.tags", "operator": "in", "value": ["VIP", "Gold "]},
                {"field": "client.tags", "operator": "matches", "value": "^[A-Z]+$"},
                {"field": "client.name", "operator": "eq", "value": "ADA"},
            ]
        }
        await conn.execute(
            "INSERT INTO workflows (id, tenant, name, trigger_type, conditions) "
            "VALUES ($1, $2, 'w', 'MANUAL', $3::jsonb)",
            wf,
            ids["tenant"],
            json.dumps(conditions),
        )
        # As if the database predated the data migration: it runs again on the next forwards.
        deleted = await conn.execute(
            "DELETE FROM migration WHERE name = '2026-11-24T18:30:00:000000'"
        )
        assert deleted == "DELETE 1"
    finally:
        await conn.close()
    await asyncio.to_thread(migrate_forwards, url)
    conn = await asyncpg.connect(url)
    try:
        tags = await conn.fetchval("SELECT tags FROM clients WHERE id = $1", ids["client"])
        stored = json.loads(
            await conn.fetchval("SELECT conditions FROM workflows WHERE id = $1", wf)
        )
    finally:
        await conn.close()
    assert tags == ["vip", "gold"]
    assert stored["any"][0]["value"] == ["vip", "gold"]
    assert stored["any"][1]["value"] == "^[A-Z]+$"  # a pattern is the author's own
    assert stored["any"][2]["value"] == "ADA"  # not a tag


async def test_the_data_migration_renames_old_audit_actions_to_bare_verbs(
    scratch_db: ScratchFactory,
) -> None:
    url = await scratch_db()
    conn = await asyncpg.connect(url)
    old = {
        "workflow.create": "create",
        "workflow.deactivate": "deactivate",
        "email.sent": "send",
        "email.failed": "fail",
        "webhook_source.rotate": "rotate",
        "console.sign_in": "sign_in",
        "retry_from_start": "retry_from_start",  # already a verb: left alone
    }
    try:
        ids = await insert_fixture(conn)
        rows = {uuid.uuid4(): action for action in old}
        await conn.executemany(
            "INSERT INTO audit_logs (id, tenant, action, resource_type) VALUES ($1, $2, $3, 'x')",
            [(row_id, ids["tenant"], action) for row_id, action in rows.items()],
        )
        deleted = await conn.execute(
            "DELETE FROM migration WHERE name = '2026-11-24T23:40:00:000000'"
        )
        assert deleted == "DELETE 1"
    finally:
        await conn.close()
    await asyncio.to_thread(migrate_forwards, url)
    conn = await asyncpg.connect(url)
    try:
        stored = dict(
            await conn.fetch(
                "SELECT id, action FROM audit_logs WHERE id = ANY($1::uuid[])", list(rows)
            )
        )
    finally:
        await conn.close()
    assert {row_id: stored[row_id] for row_id in rows} == {
        row_id: old[action] for row_id, action in rows.items()
    }
