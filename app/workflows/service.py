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
from app.core.listing import FIRST_PAGE, PageQuery, Where, escape_like, keyset_rows
from app.core.sql import fetch, fetchrow
from app.events.service import record_event
from app.workflows.conditions import validate_conditions
from app.workflows.credentials import redact_actions
from app.workflows.definition import convert_all, validate_actions
from app.workflows.needs import missing_client_errors
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
)
from app.workflows.versions import record_version
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


def _encode(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def row_to_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A workflow row as a dict (jsonb already decoded by the pool's codec; secrets encrypted)."""
    return dict(row)


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
    keys = ("name", "description", "is_active", "is_template", "version", *DEFINITION_FIELDS)
    view = {k: data[k] for k in keys}
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


def _unique(errors: list[FieldError]) -> list[FieldError]:
    """Each (path, message) once; a path the body check already named is not named again."""
    seen: set[tuple[str, str]] = set()
    out: list[FieldError] = []
    for error in errors:
        key = (error["path"], error["message"])
        if key not in seen:
            seen.add(key)
            out.append(error)
    return out


def _definition_errors(raw: dict[str, Any], *, partial: bool) -> list[FieldError]:
    """What the definition check says of the parts sent (every part when not partial)."""
    if partial:
        errors: list[FieldError] = []
        if raw.get("conditions") is not None:
            errors += validate_conditions(raw["conditions"])
        if "actions" in raw:
            errors += validate_actions(raw["actions"])[1]
        return errors
    try:
        check_definition(
            trigger_type=raw.get("trigger_type"),
            trigger_config=raw.get("trigger_config", {}),
            conditions=raw.get("conditions"),
            actions=raw.get("actions"),
        )
    except UnprocessableError as exc:
        return list(exc.errors)
    return []


def read_body(raw: Any, kind: type[Any]) -> Any:
    """The body as `kind` (WorkflowCreate / WorkflowUpdate), or a 422 listing every problem:
    the body's own fields and the definition's, at once."""
    if not isinstance(raw, dict):
        raise UnprocessableError(
            "The body must be a JSON object.", errors=[FieldError("$", "must be an object")]
        )
    data, errors = convert_all(raw, kind, "$")
    if errors:
        partial = kind is WorkflowUpdate
        taken = {e["path"] for e in errors}
        more = [e for e in _definition_errors(raw, partial=partial) if e["path"] not in taken]
        raise UnprocessableError("The workflow has invalid fields.", errors=_unique(errors + more))
    return data


async def create_from_body(*, tenant_id: UUID, actor_id: UUID | None, raw: Any) -> WorkflowOut:
    """POST /workflows: a definition, or {"from_template": key, "name"?, "is_active"?}."""
    if isinstance(raw, dict) and "from_template" in raw:
        from app.workflows.language import WorkflowFromTemplate
        from app.workflows.library import template_definition

        request, errors = convert_all(raw, WorkflowFromTemplate, "$")
        if errors:
            raise UnprocessableError("The request has invalid fields.", errors=errors)
        body = await template_definition(tenant_id=tenant_id, key=request.from_template)
        body["is_active"] = request.is_active
        if request.name is not None:
            body["name"] = request.name
        raw = body
    return await create_workflow(
        tenant_id=tenant_id, actor_id=actor_id, data=read_body(raw, WorkflowCreate)
    )


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
        VALUES ($1, $2, $3, $4, $5, $11, $6, $7::jsonb, $8::jsonb, $9::jsonb, 1, $10,
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
        data.is_template,
    )
    assert row is not None
    created = row_to_dict(row)
    await record_version(workflow=created, actor_id=actor_id)
    await record_audit(
        tenant_id=tenant_id,
        action="create",
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
            # Stored secrets and header values come back as "[redacted]", which keeps them.
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
    if "is_template" in sent:
        new["is_template"] = sent["is_template"]
    if definition is not None:
        new.update(definition.as_dict())
    changed_definition = any(new[k] != current[k] for k in DEFINITION_FIELDS)
    plain = ("name", "description", "is_template")
    if not changed_definition and all(new[k] == current[k] for k in plain):
        return to_out(current)
    version = current["version"] + (1 if changed_definition else 0)
    row = await fetchrow(
        f"""
        UPDATE workflows
        SET name = $3, description = $4, trigger_type = $5, trigger_config = $6::jsonb,
            conditions = $7::jsonb, actions = $8::jsonb, version = $9, is_template = $10,
            updated_at = now()
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
        new["is_template"],
    )
    assert row is not None
    updated = row_to_dict(row)
    if changed_definition:
        await record_version(workflow=current)
        await record_version(workflow=updated)
    await record_audit(
        tenant_id=tenant_id,
        action="update",
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
        action="delete",
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
        action="activate" if active else "deactivate",
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
    page: PageQuery = FIRST_PAGE,
) -> WorkflowPage:
    """One keyset page of the tenant's workflows, filtered and sorted."""
    where = Where().equal("w.tenant", tenant_id)
    where.equal("w.trigger_type", trigger_type)
    where.equal("w.is_active", is_active)
    if q:
        where.add(f"w.name ILIKE {where.param('%' + escape_like(q) + '%')}")
    where.created_between("w", created_after, created_before)
    rows, next_cursor = await keyset_rows(
        select=", ".join(f"w.{c}" for c in COLUMNS.split(", ")),
        from_="workflows w",
        where=where,
        alias="w",
        page=page,
        sorts=WorkflowSort,
        types={"name": str},
    )
    return WorkflowPage(items=[to_out(row_to_dict(r)) for r in rows], next_cursor=next_cursor)


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
    if data.client_id is None:
        # Refused now rather than accepted (202) and failed by the engine a moment later.
        needed = missing_client_errors(list(workflow["actions"]))
        if needed:
            raise UnprocessableError(
                "This workflow's steps need a client: send client_id.", errors=needed
            )
    elif await get_client_snapshot(tenant_id=tenant_id, client_id=data.client_id) is None:
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
        action="trigger",
        resource_type=RESOURCE,
        resource_id=workflow_id,
        after={"event_id": str(event.id), "client_id": data.client_id and str(data.client_id)},
    )
    return TriggerAccepted(event_id=event.id, workflow_id=workflow_id)
