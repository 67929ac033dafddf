"""Export workflows as JSON and import them into another tenant (new ids, users remapped),
each checked exactly like a save. Secrets never leave: WEBHOOK secrets and header values are
left out of an export and must be given again after the import."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from app.core.errors import FieldError, UnprocessableError
from app.core.sql import fetch
from app.workflows.credentials import redact_actions
from app.workflows.schemas import WorkflowCreate, WorkflowOut

FORMAT = "crmflow.workflows/1"
MAX_IMPORT = 200


class ExportedWorkflow(msgspec.Struct, kw_only=True):
    name: str
    description: str
    is_template: bool
    trigger_type: str
    trigger_config: dict[str, Any]
    conditions: dict[str, Any] | None
    actions: list[dict[str, Any]]


class WorkflowExport(msgspec.Struct, kw_only=True):
    format: str
    exported_at: datetime
    # Each workflow's id here, in the order of `workflows` (an import maps them to new ones).
    ids: list[UUID]
    # Each one a WorkflowDefinition, as POST /workflows takes it.
    workflows: list[ExportedWorkflow]
    # The users the workflows name (CREATE_TASK assignee ids), by email: an import maps each to
    # the importing tenant's user with that email.
    users: dict[str, str]
    # Where a secret was left out ("$.workflows[0].actions[1].config.secret").
    secrets_removed: list[str]


class ImportResult(msgspec.Struct, kw_only=True):
    items: list[WorkflowOut]
    # Exported workflow id -> the new id in this tenant.
    id_map: dict[str, str]
    # Exported user id -> this tenant's user (null: no user with that email; now unassigned).
    user_map: dict[str, str | None]


def _strip_secrets(actions: list[dict[str, Any]], path: str, removed: list[str]) -> list[Any]:
    out = []
    for i, action in enumerate(redact_actions(actions)):
        config = dict(action.get("config") or {})
        if action.get("type") == "WEBHOOK":
            if "secret" in config:
                config.pop("secret")
                removed.append(f"{path}[{i}].config.secret")
            headers = config.get("headers") or {}
            if headers:
                config.pop("headers")
                removed += [f"{path}[{i}].config.headers.{name}" for name in headers]
        out.append({**action, "config": config})
    return out


async def export_workflows(*, tenant_id: UUID, ids: list[UUID] | None) -> WorkflowExport:
    """The tenant's workflows (those ids, or all) as a portable document."""
    rows = await fetch(
        "SELECT id, name, description, is_template, trigger_type, trigger_config, conditions, "
        "actions FROM workflows WHERE tenant = $1 AND ($2::uuid[] IS NULL OR id = ANY($2)) "
        "ORDER BY created_at, id",
        tenant_id,
        ids,
    )
    removed: list[str] = []
    workflows = []
    ids_out: list[UUID] = []
    assignees: set[str] = set()
    for i, row in enumerate(rows):
        data = {k: row[k] for k in row.keys()}  # noqa: SIM118 - asyncpg Record
        for key in ("trigger_config", "conditions", "actions"):
            if isinstance(data[key], str):
                data[key] = msgspec.json.decode(data[key])
        data["actions"] = _strip_secrets(
            data["actions"] or [], f"$.workflows[{i}].actions", removed
        )
        for action in data["actions"]:
            assignee = (action.get("config") or {}).get("assignee")
            if action.get("type") == "CREATE_TASK" and assignee not in (None, "owner"):
                assignees.add(str(assignee))
        data["trigger_config"] = data["trigger_config"] or {}
        ids_out.append(data.pop("id"))
        workflows.append(msgspec.convert(data, ExportedWorkflow))
    users: dict[str, str] = {}
    if assignees:
        for user in await fetch(
            "SELECT id, email FROM users WHERE tenant = $1 AND id = ANY($2::uuid[])",
            tenant_id,
            [UUID(a) for a in assignees],
        ):
            users[str(user["id"])] = user["email"]
    return WorkflowExport(
        format=FORMAT,
        exported_at=datetime.now(UTC),
        ids=ids_out,
        workflows=workflows,
        users=users,
        secrets_removed=removed,
    )


async def _user_map(tenant_id: UUID, users: dict[str, str]) -> dict[str, str | None]:
    rows = await fetch(
        "SELECT id, lower(email) AS email FROM users WHERE tenant = $1 AND is_active",
        tenant_id,
    )
    by_email = {r["email"]: str(r["id"]) for r in rows}
    return {old: by_email.get(email.lower()) for old, email in users.items()}


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def _remap_assignees(actions: Any, user_map: dict[str, str | None], known: set[str]) -> Any:
    if not isinstance(actions, list):
        return actions
    out = []
    for action in actions:
        config = action.get("config") if isinstance(action, dict) else None
        if isinstance(config, dict) and action.get("type") == "CREATE_TASK":
            assignee = config.get("assignee")
            # Only a user id of the exporting tenant is mapped; anything else is left for the
            # save to judge (so an import refuses exactly what a save refuses).
            if isinstance(assignee, str) and _is_uuid(assignee) and assignee not in known:
                action = {**action, "config": {**config, "assignee": user_map.get(assignee)}}
        out.append(action)
    return out


async def import_workflows(*, tenant_id: UUID, actor_id: UUID | None, raw: Any) -> ImportResult:
    """Create every workflow of an export in this tenant (inactive), or none: each is checked
    like a save and every problem of every workflow is reported at once."""
    from app.workflows.service import create_workflow, read_body

    if not isinstance(raw, dict) or not isinstance(raw.get("workflows"), list):
        raise UnprocessableError(
            'Send an export: {"workflows": [...], "users": {...}}.',
            errors=[FieldError("$.workflows", "must be a list of workflows")],
        )
    shape = {"format": str, "exported_at": str, "ids": list, "workflows": list, "users": dict,
             "secrets_removed": list}  # fmt: skip
    wrong = [
        FieldError(f"$.{key}", "is not a known field" if key not in shape else "has the wrong type")
        for key, value in raw.items()
        if key not in shape or not isinstance(value, shape[key])
    ]
    removed = raw.get("secrets_removed") or []
    if isinstance(removed, list) and not all(isinstance(p, str) for p in removed):
        wrong.append(FieldError("$.secrets_removed", "must be a list of paths"))
    if wrong:
        raise UnprocessableError("The import has invalid fields.", errors=wrong)
    items = raw["workflows"]
    if not 1 <= len(items) <= MAX_IMPORT:
        raise UnprocessableError(
            f"Import 1 to {MAX_IMPORT} workflows at a time.",
            errors=[FieldError("$.workflows", f"must hold 1 to {MAX_IMPORT} workflows")],
        )
    users = raw.get("users") or {}
    if not isinstance(users, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in users.items()
    ):
        raise UnprocessableError(
            "users must map exported user ids to emails.",
            errors=[FieldError("$.users", "must be an object of id: email")],
        )
    exported_ids = raw.get("ids") or []
    if not isinstance(exported_ids, list) or not all(isinstance(i, str) for i in exported_ids):
        raise UnprocessableError(
            "ids must list the exported workflows' ids.",
            errors=[FieldError("$.ids", "must be a list of ids")],
        )
    user_map = await _user_map(tenant_id, users)
    own = {str(r["id"]) for r in await fetch("SELECT id FROM users WHERE tenant = $1", tenant_id)}
    bodies: list[tuple[int, str | None, WorkflowCreate]] = []
    errors: list[FieldError] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(FieldError(f"$.workflows[{i}]", "must be an object"))
            continue
        old_id = exported_ids[i] if i < len(exported_ids) else None
        body = dict(item)
        body["is_active"] = False
        body["actions"] = _remap_assignees(body.get("actions"), user_map, own)
        try:
            bodies.append((i, str(old_id) if old_id else None, read_body(body, WorkflowCreate)))
        except UnprocessableError as exc:
            errors += [
                FieldError(e["path"].replace("$", f"$.workflows[{i}]", 1), e["message"])
                for e in exc.errors
            ]
    created: list[WorkflowOut] = []
    id_map: dict[str, str] = {}
    for i, old_id, data in bodies:
        try:
            out = await create_workflow(tenant_id=tenant_id, actor_id=actor_id, data=data)
        except UnprocessableError as exc:
            errors += [
                FieldError(e["path"].replace("$", f"$.workflows[{i}]", 1), e["message"])
                for e in exc.errors
            ]
            continue
        created.append(out)
        if old_id:
            id_map[old_id] = str(out.id)
    if errors:
        # The caller's transaction rolls back whatever was created: all or nothing.
        raise UnprocessableError("The import has invalid workflows.", errors=errors)
    return ImportResult(items=created, id_map=id_map, user_map=user_map)


__all__ = ["FORMAT", "ImportResult", "WorkflowExport", "export_workflows", "import_workflows"]
