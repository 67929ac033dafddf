"""Every definition a workflow has had (workflow_versions), a diff between two, and restore.

A version row is written with every definition change (create, update, restore, import), in the
same transaction; a workflow saved before versions were kept gets its current definition stored
the first time it changes, so nothing it has had from then on is lost.
"""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec

from app.audit.service import record_audit
from app.core.errors import ConflictError, NotFoundError
from app.core.sql import fetch, fetchrow
from app.workflows.credentials import redact_actions

DEFINITION = ("trigger_type", "trigger_config", "conditions", "actions")
_COLUMNS = "version, name, trigger_type, trigger_config, conditions, actions, restored_from, " \
    "created_by, created_at"  # fmt: skip


def _encode(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def _json(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str) else value


async def record_version(
    *,
    workflow: Mapping[str, Any],
    actor_id: UUID | None = None,
    restored_from: int | None = None,
) -> None:
    """Keep `workflow`'s current definition as its version (a repeat is a no-op)."""
    await fetch(
        """
        INSERT INTO workflow_versions (id, workflow, version, name, trigger_type, trigger_config,
                                       conditions, actions, restored_from, created_by, created_at)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9, $10, now())
        ON CONFLICT ON CONSTRAINT uq_workflow_versions_workflow_version DO NOTHING
        """,
        uuid4(),
        workflow["id"],
        workflow["version"],
        workflow["name"],
        workflow["trigger_type"],
        _encode(workflow["trigger_config"] or {}),
        _encode(workflow["conditions"]),
        _encode(workflow["actions"] or []),
        restored_from,
        actor_id,
    )


class VersionOut(msgspec.Struct, kw_only=True):
    version: int
    name: str
    trigger_type: str
    trigger_config: dict[str, Any]
    conditions: dict[str, Any] | None
    # Secrets and header values as "[redacted]".
    actions: list[dict[str, Any]]
    # Set when this version was made by restoring that one.
    restored_from: int | None
    created_by: UUID | None
    created_at: datetime
    current: bool


class VersionList(msgspec.Struct, kw_only=True):
    workflow_id: UUID
    current_version: int
    # Newest first.
    items: list[VersionOut]


class Change(msgspec.Struct, kw_only=True):
    # JSON path of what changed, e.g. "$.actions[1].config.subject".
    path: str
    # "added" | "removed" | "changed"
    change: str
    before: Any = None
    after: Any = None


class VersionDiff(msgspec.Struct, kw_only=True):
    workflow_id: UUID
    from_version: int
    to_version: int
    changes: list[Change]


async def _workflow(tenant_id: UUID, workflow_id: UUID) -> dict[str, Any]:
    from app.workflows.service import get_workflow_row

    return await get_workflow_row(tenant_id=tenant_id, workflow_id=workflow_id)


def _out(row: Mapping[str, Any], current: int) -> VersionOut:
    return VersionOut(
        version=row["version"],
        name=row["name"],
        trigger_type=row["trigger_type"],
        trigger_config=_json(row["trigger_config"]) or {},
        conditions=_json(row["conditions"]),
        actions=redact_actions(_json(row["actions"]) or []),
        restored_from=row["restored_from"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        current=row["version"] == current,
    )


async def list_versions(*, tenant_id: UUID, workflow_id: UUID) -> VersionList:
    """Every kept version, newest first (the current one always among them)."""
    workflow = await _workflow(tenant_id, workflow_id)
    rows = await fetch(
        f"SELECT {_COLUMNS} FROM workflow_versions WHERE workflow = $1 ORDER BY version DESC",
        workflow_id,
    )
    items = [_out(r, workflow["version"]) for r in rows]
    if not any(i.current for i in items):
        # Saved before versions were kept and unchanged since.
        items.insert(0, _out({**workflow, "restored_from": None}, workflow["version"]))
    return VersionList(workflow_id=workflow_id, current_version=workflow["version"], items=items)


async def _version_row(tenant_id: UUID, workflow_id: UUID, version: int) -> dict[str, Any]:
    workflow = await _workflow(tenant_id, workflow_id)
    row = await fetchrow(
        f"SELECT {_COLUMNS} FROM workflow_versions WHERE workflow = $1 AND version = $2",
        workflow_id,
        version,
    )
    if row is not None:
        data = dict(row)
    elif version == workflow["version"]:
        data = {**workflow, "restored_from": None}
    else:
        raise NotFoundError(f"Workflow {workflow_id} has no version {version}.")
    for key in ("trigger_config", "conditions", "actions"):
        data[key] = _json(data[key])
    data["current_version"] = workflow["version"]
    return data


async def get_version(*, tenant_id: UUID, workflow_id: UUID, version: int) -> VersionOut:
    row = await _version_row(tenant_id, workflow_id, version)
    return _out(row, row["current_version"])


def json_changes(before: Any, after: Any, path: str = "$") -> list[Change]:
    """What differs between two JSON values, by path (lists compared item by item)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[Change] = []
        for key in [*before, *(k for k in after if k not in before)]:
            sub = f"{path}.{key}"
            if key not in after:
                changes.append(Change(path=sub, change="removed", before=before[key]))
            elif key not in before:
                changes.append(Change(path=sub, change="added", after=after[key]))
            else:
                changes += json_changes(before[key], after[key], sub)
        return changes
    if isinstance(before, list) and isinstance(after, list):
        changes = []
        for i in range(max(len(before), len(after))):
            sub = f"{path}[{i}]"
            if i >= len(after):
                changes.append(Change(path=sub, change="removed", before=before[i]))
            elif i >= len(before):
                changes.append(Change(path=sub, change="added", after=after[i]))
            else:
                changes += json_changes(before[i], after[i], sub)
        return changes
    if before == after and type(before) is type(after):
        return []
    return [Change(path=path, change="changed", before=before, after=after)]


def _view(row: Mapping[str, Any]) -> dict[str, Any]:
    view = {k: row[k] for k in ("name", *DEFINITION)}
    view["actions"] = redact_actions(row["actions"] or [])
    return view


async def diff_versions(
    *, tenant_id: UUID, workflow_id: UUID, from_version: int, to_version: int
) -> VersionDiff:
    """The changes from one version to another (either order), secrets redacted."""
    before = await _version_row(tenant_id, workflow_id, from_version)
    after = await _version_row(tenant_id, workflow_id, to_version)
    return VersionDiff(
        workflow_id=workflow_id,
        from_version=from_version,
        to_version=to_version,
        changes=json_changes(_view(before), _view(after)),
    )


async def restore_version(
    *, tenant_id: UUID, workflow_id: UUID, version: int, actor_id: UUID | None
) -> dict[str, Any]:
    """Make `version`'s definition current again, as a new version (history is never
    rewritten). Returns the updated workflow row."""
    from app.workflows.service import get_workflow_row

    current = await get_workflow_row(tenant_id=tenant_id, workflow_id=workflow_id, for_update=True)
    old = await _version_row(tenant_id, workflow_id, version)
    if all(old[k] == current[k] for k in DEFINITION):
        raise ConflictError(
            f"Version {version} is the current definition already; nothing to restore."
        )
    await record_version(workflow=current)
    await fetch(
        """
        UPDATE workflows
        SET trigger_type = $3, trigger_config = $4::jsonb, conditions = $5::jsonb,
            actions = $6::jsonb, version = version + 1, updated_at = now()
        WHERE id = $1 AND tenant = $2
        """,
        workflow_id,
        tenant_id,
        old["trigger_type"],
        _encode(old["trigger_config"] or {}),
        _encode(old["conditions"]),
        _encode(old["actions"] or []),
    )
    updated = await get_workflow_row(tenant_id=tenant_id, workflow_id=workflow_id)
    await record_version(workflow=updated, actor_id=actor_id, restored_from=version)
    await record_audit(
        tenant_id=tenant_id,
        action="restore",
        resource_type="workflow",
        resource_id=workflow_id,
        before={"version": current["version"]},
        after={"version": updated["version"], "restored_from": version},
    )
    return updated


__all__ = [
    "Change",
    "VersionDiff",
    "VersionList",
    "VersionOut",
    "diff_versions",
    "get_version",
    "json_changes",
    "list_versions",
    "record_version",
    "restore_version",
]
