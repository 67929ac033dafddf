"""Workflows: create, list, read, change (versioned), delete, activate, trigger by hand.

Functions never commit: the caller's unit_of_work() owns the transaction. Every write is audited.
"""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
from msgspec import UNSET

from app.audit.service import record_audit
from app.core.errors import ConflictError, FieldError, NotFoundError, UnprocessableError
from app.core.pagination import build_page, decode_cursor
from app.core.sql import fetch, fetchrow
from app.events.service import record_event
from app.workflows.schemas import (
    ManualTrigger,
    TriggerAccepted,
    WorkflowCreate,
    WorkflowOut,
    WorkflowPage,
    WorkflowSort,
    WorkflowUpdate,
)
from app.workflows.validation import (
    Definition,
    check_definition,
    depth_errors,
    name_errors,
    protect_webhook_secrets,
    redact_actions,
)
from tables.enums import TriggerType

RESOURCE = "workflow"
COLUMNS = (
    "id, name, description, is_active, is_template, trigger_type, trigger_config, conditions, "
    "actions, version, created_by, created_at, updated_at"
)
DEFINITION_FIELDS = ("trigger_type", "trigger_config", "conditions", "actions")

__all__ = [
    "create_workflow",
    "delete_workflow",
    "get_workflow",
    "get_workflow_row",
    "list_workflows",
    "protect_webhook_secrets",
    "set_active",
    "trigger_manual",
    "update_workflow",
]


def _json(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str) else value


def _encode(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def row_to_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A workflow row with its JSON columns decoded (secrets still encrypted)."""
    data = dict(row)
    for key in ("trigger_config", "conditions", "actions"):
        data[key] = _json(data[key])
    return data


def to_out(data: Mapping[str, Any]) -> WorkflowOut:
    return WorkflowOut(
        id=data["id"],
        name=data["name"],
        description=data["description"],
        is_active=data["is_active"],
        is_template=data["is_template"],
        trigger_type=TriggerType(data["trigger_type"]),
        trigger_config=data["trigger_config"] or {},
        conditions=data["conditions"],
        actions=redact_actions(data["actions"] or []),
        version=data["version"],
        created_by=data["created_by"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
    )


def _audit_view(data: Mapping[str, Any]) -> dict[str, Any]:
    view = {k: data[k] for k in ("name", "description", "is_active", "version", *DEFINITION_FIELDS)}
    view["actions"] = redact_actions(view["actions"] or [])
    return view


async def get_workflow_row(
    *, tenant_id: UUID, workflow_id: UUID, for_update: bool = False
) -> dict[str, Any]:
    """The tenant's workflow (JSON decoded), or 404; other tenants' workflows do not exist."""
    lock = " FOR UPDATE" if for_update else ""
    row = await fetchrow(
        f"SELECT {COLUMNS} FROM workflows WHERE id = $1 AND tenant = $2{lock}",
        workflow_id,
        tenant_id,
    )
    if row is None:
        raise NotFoundError(f"Workflow {workflow_id} was not found.")
    return row_to_dict(row)


async def get_workflow(*, tenant_id: UUID, workflow_id: UUID) -> WorkflowOut:
    return to_out(await get_workflow_row(tenant_id=tenant_id, workflow_id=workflow_id))


async def create_workflow(
    *, tenant_id: UUID, actor_id: UUID | None, data: WorkflowCreate
) -> WorkflowOut:
    """Validate the whole definition (all errors at once) and store it as version 1."""
    definition = check_definition(
        trigger_type=data.trigger_type,
        trigger_config=data.trigger_config,
        conditions=data.conditions,
        actions=data.actions,
        extra_errors=name_errors(data.name, data.description),
    )
    row = await fetchrow(
        f"""
        INSERT INTO workflows (id, tenant, name, description, is_active, is_template,
                               trigger_type, trigger_config, conditions, actions, version,
                               created_by, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, false, $6, $7::jsonb, $8::jsonb, $9::jsonb, 1, $10,
                now(), now())
        RETURNING {COLUMNS}
        """,
        uuid4(),
        tenant_id,
        data.name.strip(),
        data.description,
        data.is_active,
        definition.trigger_type,
        _encode(definition.trigger_config),
        None if definition.conditions is None else _encode(definition.conditions),
        _encode(definition.actions),
        actor_id,
    )
    assert row is not None
    created = row_to_dict(row)
    await record_audit(
        tenant_id=tenant_id,
        action="workflow.create",
        resource_type=RESOURCE,
        resource_id=created["id"],
        after=_audit_view(created),
    )
    return to_out(created)


async def update_workflow(
    *, tenant_id: UUID, workflow_id: UUID, data: WorkflowUpdate
) -> WorkflowOut:
    """Apply the fields sent; the version goes up when the definition actually changes."""
    current = await get_workflow_row(tenant_id=tenant_id, workflow_id=workflow_id, for_update=True)
    sent = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not UNSET}
    errors = name_errors(sent.get("name"), sent.get("description"))
    if "name" in sent and sent["name"] is None:
        errors.append(FieldError("$.name", "must not be null"))
    definition: Definition | None = None
    if any(k in sent for k in DEFINITION_FIELDS):
        merged = {k: sent.get(k, current[k]) for k in DEFINITION_FIELDS}
        if "actions" not in sent:
            # Stored secrets come back as "[redacted]", which keeps them (see validation).
            merged["actions"] = redact_actions(current["actions"])
        definition = check_definition(
            trigger_type=merged["trigger_type"],
            trigger_config=merged["trigger_config"] if merged["trigger_config"] is not None else {},
            conditions=merged["conditions"],
            actions=merged["actions"],
            previous_actions=current["actions"],
            extra_errors=errors,
        )
    elif errors:
        raise UnprocessableError("The workflow has invalid fields.", errors=errors)

    new = dict(current)
    if "name" in sent:
        new["name"] = sent["name"].strip()
    if "description" in sent:
        new["description"] = sent["description"]
    if definition is not None:
        new.update(definition.as_dict())
    changed_definition = any(new[k] != current[k] for k in DEFINITION_FIELDS)
    if not changed_definition and all(new[k] == current[k] for k in ("name", "description")):
        return to_out(current)
    version = current["version"] + (1 if changed_definition else 0)
    row = await fetchrow(
        f"""
        UPDATE workflows
        SET name = $3, description = $4, trigger_type = $5, trigger_config = $6::jsonb,
            conditions = $7::jsonb, actions = $8::jsonb, version = $9, updated_at = now()
        WHERE id = $1 AND tenant = $2
        RETURNING {COLUMNS}
        """,
        workflow_id,
        tenant_id,
        new["name"],
        new["description"],
        new["trigger_type"],
        _encode(new["trigger_config"]),
        None if new["conditions"] is None else _encode(new["conditions"]),
        _encode(new["actions"]),
        version,
    )
    assert row is not None
    updated = row_to_dict(row)
    await record_audit(
        tenant_id=tenant_id,
        action="workflow.update",
        resource_type=RESOURCE,
        resource_id=workflow_id,
        before=_audit_view(current),
        after=_audit_view(updated),
    )
    return to_out(updated)


async def delete_workflow(*, tenant_id: UUID, workflow_id: UUID) -> None:
    """Delete a workflow; its executions and their logs go with it."""
    current = await get_workflow_row(tenant_id=tenant_id, workflow_id=workflow_id, for_update=True)
    await fetch("DELETE FROM workflows WHERE id = $1 AND tenant = $2", workflow_id, tenant_id)
    await record_audit(
        tenant_id=tenant_id,
        action="workflow.delete",
        resource_type=RESOURCE,
        resource_id=workflow_id,
        before=_audit_view(current),
    )


async def set_active(*, tenant_id: UUID, workflow_id: UUID, active: bool) -> WorkflowOut:
    """Turn a workflow on or off (no version change: the definition is the same)."""
    current = await get_workflow_row(tenant_id=tenant_id, workflow_id=workflow_id, for_update=True)
    if current["is_active"] == active:
        return to_out(current)
    row = await fetchrow(
        f"""
        UPDATE workflows SET is_active = $3, updated_at = now()
        WHERE id = $1 AND tenant = $2 RETURNING {COLUMNS}
        """,
        workflow_id,
        tenant_id,
        active,
    )
    assert row is not None
    await record_audit(
        tenant_id=tenant_id,
        action="workflow.activate" if active else "workflow.deactivate",
        resource_type=RESOURCE,
        resource_id=workflow_id,
        before={"is_active": current["is_active"]},
        after={"is_active": active},
    )
    return to_out(row_to_dict(row))


async def list_workflows(
    *,
    tenant_id: UUID,
    trigger_type: TriggerType | None = None,
    is_active: bool | None = None,
    q: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    sort: WorkflowSort = WorkflowSort.CREATED_AT_DESC,
    cursor: str | None = None,
    limit: int = 50,
) -> WorkflowPage:
    """One keyset page of the tenant's workflows, filtered and sorted."""
    args: list[Any] = [tenant_id]
    where = ["tenant = $1"]

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if trigger_type is not None:
        where.append(f"trigger_type = {param(trigger_type.value)}")
    if is_active is not None:
        where.append(f"is_active = {param(is_active)}")
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(f"name ILIKE {param('%' + escaped + '%')}")
    if created_after is not None:
        where.append(f"created_at >= {param(created_after)}")
    if created_before is not None:
        where.append(f"created_at < {param(created_before)}")
    column = sort.value.lstrip("-")
    descending = sort.value.startswith("-")
    if cursor:
        value, row_id = decode_cursor(cursor, sort_type=str if column == "name" else datetime)
        op = "<" if descending else ">"
        where.append(f"({column}, id) {op} ({param(value)}, {param(row_id)})")
    direction = "DESC" if descending else "ASC"
    rows = await fetch(
        f"SELECT {COLUMNS} FROM workflows WHERE {' AND '.join(where)} "
        f"ORDER BY {column} {direction}, id {direction} LIMIT {int(limit) + 1}",
        *args,
    )
    page = build_page(rows, limit=limit, key=lambda r: (r[column], r["id"]))
    return WorkflowPage(
        items=[to_out(row_to_dict(r)) for r in page.items], next_cursor=page.next_cursor
    )


async def trigger_manual(
    *, tenant_id: UUID, workflow_id: UUID, actor_id: UUID | None, data: ManualTrigger
) -> TriggerAccepted:
    """Record a MANUAL event for an active MANUAL workflow; the engine runs it after commit."""
    from app.clients.service import get_client_snapshot

    workflow = await get_workflow_row(tenant_id=tenant_id, workflow_id=workflow_id)
    deep = depth_errors({"$.input": data.input})
    if deep:
        raise UnprocessableError("The input nests too deeply.", errors=deep)
    if workflow["trigger_type"] != TriggerType.MANUAL.value:
        raise ConflictError(
            "Only workflows with the MANUAL trigger can be triggered by hand; "
            f"this one runs on {workflow['trigger_type']}."
        )
    if not workflow["is_active"]:
        raise ConflictError("The workflow is inactive; activate it before triggering it.")
    if data.client_id is not None and (
        await get_client_snapshot(tenant_id=tenant_id, client_id=data.client_id) is None
    ):
        raise UnprocessableError(
            "The client does not exist.",
            errors=[FieldError("$.client_id", "no such client")],
        )
    event = await record_event(
        tenant_id=tenant_id,
        type=TriggerType.MANUAL.value,
        payload={"workflow_id": str(workflow_id), "input": data.input},
        client_id=data.client_id,
        actor_id=actor_id,
    )
    await record_audit(
        tenant_id=tenant_id,
        action="workflow.trigger",
        resource_type=RESOURCE,
        resource_id=workflow_id,
        after={"event_id": str(event.id), "client_id": data.client_id and str(data.client_id)},
    )
    return TriggerAccepted(event_id=event.id, workflow_id=workflow_id)
