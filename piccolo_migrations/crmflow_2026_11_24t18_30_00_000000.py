"""Data: tags are one spelling — trimmed, lower-case (issue 8 item 12).

Client tags written before the rule are normalised (duplicates that only differed by case or
surrounding space merge, first position kept), and so are the values of stored workflow
conditions on `client.tags` (except `matches` patterns). Done in Python, not SQL `lower()`: the
server's lower() follows its locale (ASCII only under "C"), the app's follows Python's. The code
is frozen here on purpose: a migration must keep meaning what it meant when it ran.
Irreversible by nature (the old spellings are gone); backwards is a no-op.
"""

import json
from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-24T18:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "normalise tags"

_SPACE = " \t\n\r\f\v"
_GROUPS = ("all", "any", "not")


def _tag(text: str) -> str:
    return text.strip(_SPACE).lower()


def _tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(_tag(t) for t in tags))


def _conditions(node: Any, depth: int = 0) -> Any:
    if not isinstance(node, dict) or depth > 64:
        return node
    for group in _GROUPS:
        if group in node:
            child = node[group]
            if isinstance(child, list):
                return {**node, group: [_conditions(c, depth + 1) for c in child]}
            return {**node, group: _conditions(child, depth + 1)}
    if node.get("field") == "client.tags" and node.get("operator") != "matches":
        value = node.get("value")
        if isinstance(value, str):
            return {**node, "value": _tag(value)}
        if isinstance(value, list):
            return {**node, "value": [_tag(v) if isinstance(v, str) else v for v in value]}
    return node


async def _normalise() -> None:
    engine = engine_finder()
    assert engine is not None
    connection = await engine.get_new_connection()
    try:
        async with connection.transaction():
            rows = await connection.fetch(
                "SELECT id, tags FROM clients WHERE cardinality(tags) > 0 FOR UPDATE"
            )
            for row in rows:
                tags = list(row["tags"])
                if _tags(tags) != tags:
                    await connection.execute(
                        "UPDATE clients SET tags = $2 WHERE id = $1", row["id"], _tags(tags)
                    )
            rows = await connection.fetch(
                "SELECT id, conditions::text AS conditions FROM workflows "
                "WHERE conditions IS NOT NULL AND conditions::text LIKE '%client.tags%' FOR UPDATE"
            )
            for row in rows:
                before = json.loads(row["conditions"])
                after = _conditions(before)
                if after != before:
                    await connection.execute(
                        "UPDATE workflows SET conditions = $2::jsonb WHERE id = $1",
                        row["id"],
                        json.dumps(after),
                    )
    finally:
        await connection.close()


async def _nothing() -> None:
    return None


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="crmflow", description=DESCRIPTION)
    manager.add_raw(_normalise)
    manager.add_raw_backwards(_nothing)
    return manager
