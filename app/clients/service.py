"""Clients: create, change, tag, list, delete. Called by the API and by workflow actions.

Hot paths (create, update, tags) are single raw-SQL statements so a workflow step costs few round
trips. Functions never commit: the caller's unit_of_work() owns the transaction, so the change,
its event (outbox) and its audit row commit together or not at all.
"""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID, uuid4

import msgspec

from app.audit.service import AuditTrail
from app.clients.schemas import (
    ClientCreate,
    ClientFilters,
    ClientOut,
    ClientPage,
    ClientSort,
    ClientUpdate,
    TagBody,
    normalize_tags,
)
from app.core.errors import ConflictError, FieldError, NotFoundError, UnprocessableError
from app.core.listing import FIRST_PAGE, PageQuery, Where, escape_like, keyset_rows
from app.core.sql import fetch, fetchrow, fetchval
from app.core.text import normalize_tag
from app.core.uow import call_after_commit
from app.documents.storage import remove_files
from app.events.service import record_event
from tables.enums import TriggerType

RESOURCE = "client"
AUDIT = AuditTrail(RESOURCE)
COLUMNS = (
    "id, owner, name, email, phone, company, status, tags, custom_fields, external_id, "
    "created_at, updated_at"
)
# API field -> column.
_UPDATABLE = {
    "name": "name",
    "email": "email",
    "phone": "phone",
    "company": "company",
    "status": "status",
    "tags": "tags",
    "custom_fields": "custom_fields",
    "owner_id": "owner",
}

S = TypeVar("S", bound=msgspec.Struct)


def validation_error(exc: msgspec.ValidationError) -> UnprocessableError:
    """msgspec's 'Expected ... - at `$.status`' as a 422 with the JSON path."""
    message, _, at = str(exc).partition(" - at `")
    path = at.rstrip("`") or "$"
    return UnprocessableError("The data has invalid fields.", errors=[FieldError(path, message)])


def parse(data: Any, struct: type[S]) -> S:
    """Validate a mapping (e.g. a workflow step's config) into a struct; 422 with the path."""
    if isinstance(data, struct):
        return data
    try:
        return msgspec.convert(data, struct, strict=False)
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from exc


def snapshot(row: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-able view of a client row (what events and templates see)."""
    owner = row["owner"]
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "email": row["email"],
        "phone": row["phone"],
        "company": row["company"],
        "status": row["status"],
        "tags": list(row["tags"] or []),
        "custom_fields": row["custom_fields"] or {},
        "owner": None if owner is None else str(owner),
        "external_id": row["external_id"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def to_out(snap: Mapping[str, Any]) -> ClientOut:
    data = {k: v for k, v in snap.items() if k != "owner"}
    data["owner_id"] = snap["owner"]
    return msgspec.convert(data, ClientOut, strict=False)


def _dedupe(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


async def _check_owner(*, tenant_id: UUID, owner_id: UUID | None, path: str) -> None:
    if owner_id is None:
        return
    found = await fetchval("SELECT 1 FROM users WHERE id = $1 AND tenant = $2", owner_id, tenant_id)
    if not found:
        raise UnprocessableError(
            "The owner is not a user of this tenant.",
            errors=[FieldError(path, "unknown user")],
        )


async def create_client(
    *,
    tenant_id: UUID,
    actor_id: UUID | None,
    data: ClientCreate | Mapping[str, Any],
    depth: int = 0,
    caused_by_execution: UUID | None = None,
) -> dict[str, Any]:
    """Create a client and its CLIENT_CREATED event; returns the client snapshot."""
    body = parse(data, ClientCreate)
    client_id = uuid4()
    row = await fetchrow(
        f"""
        INSERT INTO clients (id, tenant, owner, name, email, phone, company, status, tags,
                             custom_fields, external_id, created_at, updated_at)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, now(), now()
        WHERE $3::uuid IS NULL
           OR EXISTS (SELECT 1 FROM users WHERE id = $3 AND tenant = $2)
        ON CONFLICT ON CONSTRAINT uq_clients_tenant_external_id DO NOTHING
        RETURNING {COLUMNS}
        """,
        client_id,
        tenant_id,
        body.owner_id,
        body.name,
        body.email,
        body.phone,
        body.company,
        body.status.value,
        _dedupe(body.tags),
        msgspec.json.encode(body.custom_fields).decode(),
        body.external_id,
    )
    if row is None:
        if body.external_id is not None and await fetchval(
            "SELECT 1 FROM clients WHERE tenant = $1 AND external_id = $2",
            tenant_id,
            body.external_id,
        ):
            raise ConflictError(
                "A client with this external id exists.",
                errors=[FieldError("$.external_id", "already taken")],
            )
        raise UnprocessableError(
            "The owner is not a user of this tenant.",
            errors=[FieldError("$.owner_id", "unknown user")],
        )
    snap = snapshot(row)
    await record_event(
        tenant_id=tenant_id,
        type=TriggerType.CLIENT_CREATED.value,
        payload={"status": snap["status"], "client": snap},
        client_id=client_id,
        actor_id=actor_id,
        depth=depth,
        caused_by_execution=caused_by_execution,
    )
    await AUDIT.record(tenant_id=tenant_id, action="create", resource_id=client_id, after=snap)
    return snap


async def get_client_snapshot(*, tenant_id: UUID, client_id: UUID) -> dict[str, Any] | None:
    """The client as JSON-able values, or None when it is not this tenant's."""
    row = await fetchrow(
        f"SELECT {COLUMNS} FROM clients WHERE id = $1 AND tenant = $2", client_id, tenant_id
    )
    return None if row is None else snapshot(row)


async def get_client(*, tenant_id: UUID, client_id: UUID) -> dict[str, Any]:
    snap = await get_client_snapshot(tenant_id=tenant_id, client_id=client_id)
    if snap is None:
        raise NotFoundError("No such client.")
    return snap


def _changed_values(changes: ClientUpdate) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field, name in _UPDATABLE.items():
        value = getattr(changes, field)
        if value is msgspec.UNSET:
            continue
        if name == "status":
            value = value.value
        elif name == "tags":
            value = _dedupe(value)
        elif name == "custom_fields":
            value = msgspec.json.encode(value).decode()
        values[name] = value
    return values


async def _update_row(
    *, tenant_id: UUID, client_id: UUID, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply values in one statement; (before, after) snapshots. The row is locked by it."""
    where = Where()
    id_p, tenant_p = where.param(client_id), where.param(tenant_id)
    sets = []
    for name, value in values.items():
        cast = "::jsonb" if name == "custom_fields" else ""
        sets.append(f"{name} = {where.param(value)}{cast}")
    old_cols = ", ".join(f"old.{c} AS old_{c}" for c in COLUMNS.split(", "))
    new_cols = ", ".join(f"c.{c}" for c in COLUMNS.split(", "))
    # The sub-select locks the row and keeps its pre-update values: one round trip for both.
    row = await fetchrow(
        f"""
        UPDATE clients AS c SET {", ".join(sets)}, updated_at = now()
        FROM (SELECT {COLUMNS} FROM clients WHERE id = {id_p} AND tenant = {tenant_p}
              FOR UPDATE) AS old
        WHERE c.id = old.id
        RETURNING {new_cols}, {old_cols}
        """,
        *where.args,
    )
    if row is None:
        raise NotFoundError("No such client.")
    before = snapshot({c: row[f"old_{c}"] for c in COLUMNS.split(", ")})
    return before, snapshot(row)


async def update_client(
    *,
    tenant_id: UUID,
    client_id: UUID,
    changes: ClientUpdate | Mapping[str, Any],
    actor_id: UUID | None,
    depth: int = 0,
    caused_by_execution: UUID | None = None,
) -> dict[str, Any]:
    """Change a client; a status change writes CLIENT_STATUS_CHANGED at `depth`. Audited."""
    body = parse(changes, ClientUpdate)
    values = _changed_values(body)
    if not values:
        return await get_client(tenant_id=tenant_id, client_id=client_id)
    if "owner" in values:
        await _check_owner(tenant_id=tenant_id, owner_id=values["owner"], path="$.owner_id")
    before, after = await _update_row(tenant_id=tenant_id, client_id=client_id, values=values)
    if before["status"] != after["status"]:
        await record_event(
            tenant_id=tenant_id,
            type=TriggerType.CLIENT_STATUS_CHANGED.value,
            payload={"from": before["status"], "to": after["status"]},
            client_id=client_id,
            actor_id=actor_id,
            depth=depth,
            caused_by_execution=caused_by_execution,
        )
    await _audit_change(tenant_id=tenant_id, client_id=client_id, before=before, after=after)
    return after


async def _audit_change(
    *, tenant_id: UUID, client_id: UUID, before: dict[str, Any], after: dict[str, Any]
) -> None:
    # updated_at always moves; it is not a change anyone asked for.
    b = {k: v for k, v in before.items() if k != "updated_at"}
    a = {k: v for k, v in after.items() if k != "updated_at"}
    if b != a:
        await AUDIT.record(
            tenant_id=tenant_id, action="update", resource_id=client_id, before=b, after=a
        )


async def _retag(*, tenant_id: UUID, client_id: UUID, tag: str, add: bool) -> dict[str, Any]:
    tag = parse({"tag": tag}, TagBody).tag if add else normalize_tag(tag)
    # Removing needs no check: a tag that breaks the rules cannot be on the client, so it is the
    # same no-op as removing an absent one (and the path parameter documents no pattern).
    expr = (
        "CASE WHEN $3 = ANY(old.tags) THEN old.tags ELSE array_append(old.tags, $3) END"
        if add
        else "array_remove(old.tags, $3)"
    )
    row = await fetchrow(
        f"""
        UPDATE clients AS c SET tags = {expr}, updated_at = now()
        FROM (SELECT id, tags FROM clients WHERE id = $1 AND tenant = $2 FOR UPDATE) AS old
        WHERE c.id = old.id
        RETURNING {", ".join(f"c.{col}" for col in COLUMNS.split(", "))}, old.tags AS old_tags
        """,
        client_id,
        tenant_id,
        tag,
    )
    if row is None:
        raise NotFoundError("No such client.")
    after = snapshot(row)
    old_tags = list(row["old_tags"] or [])
    if old_tags != after["tags"]:
        await AUDIT.record(
            tenant_id=tenant_id,
            action="add_tag" if add else "remove_tag",
            resource_id=client_id,
            before={"tags": old_tags},
            after={"tags": after["tags"]},
        )
    return after


async def add_tag(*, tenant_id: UUID, client_id: UUID, tag: str) -> dict[str, Any]:
    """Put a tag on a client (no-op if present); returns the client snapshot."""
    return await _retag(tenant_id=tenant_id, client_id=client_id, tag=tag, add=True)


async def remove_tag(*, tenant_id: UUID, client_id: UUID, tag: str) -> dict[str, Any]:
    """Take a tag off a client (no-op if absent); returns the client snapshot."""
    return await _retag(tenant_id=tenant_id, client_id=client_id, tag=tag, add=False)


async def delete_client(*, tenant_id: UUID, client_id: UUID) -> None:
    """Delete a client with its documents, notes and tasks; their files go once that commits."""
    keys = await fetch(
        "SELECT d.storage_key FROM documents d JOIN clients c ON c.id = d.client "
        "WHERE c.id = $1 AND c.tenant = $2",
        client_id,
        tenant_id,
    )
    row = await fetchrow(
        f"DELETE FROM clients WHERE id = $1 AND tenant = $2 RETURNING {COLUMNS}",
        client_id,
        tenant_id,
    )
    if row is None:
        raise NotFoundError("No such client.")
    await AUDIT.record(
        tenant_id=tenant_id, action="delete", resource_id=client_id, before=snapshot(row)
    )
    files = [k["storage_key"] for k in keys]
    call_after_commit(lambda: remove_files(files))


async def list_clients(
    *,
    tenant_id: UUID,
    filters: ClientFilters,
    page: PageQuery = FIRST_PAGE,
) -> ClientPage:
    """A page of the tenant's clients matching every given filter."""
    where = Where().equal("c.tenant", tenant_id)
    where.equal("c.status", filters.status)
    if filters.tags:
        where.add(f"c.tags @> {where.param(normalize_tags(filters.tags))}::varchar[]")
    where.equal("c.owner", filters.owner)
    if filters.q:
        p = where.param(f"%{escape_like(filters.q)}%")
        where.add(f"(c.name ILIKE {p} OR c.email ILIKE {p} OR c.company ILIKE {p})")
    where.created_between("c", filters.created_after, filters.created_before)
    rows, next_cursor = await keyset_rows(
        select=", ".join(f"c.{col}" for col in COLUMNS.split(", ")),
        from_="clients c",
        where=where,
        alias="c",
        page=page,
        sorts=ClientSort,
        types={"name": str},
    )
    return ClientPage(items=[to_out(snapshot(r)) for r in rows], next_cursor=next_cursor)


async def client_names(*, tenant_id: UUID, ids: list[UUID]) -> dict[UUID, str]:
    """The names of these clients of the tenant (ids of other tenants, or deleted, are absent)."""
    if not ids:
        return {}
    rows = await fetch(
        "SELECT id, name FROM clients WHERE tenant = $1 AND id = ANY($2::uuid[])",
        tenant_id,
        list(set(ids)),
    )
    return {r["id"]: r["name"] for r in rows}


__all__ = [
    "add_tag",
    "client_names",
    "create_client",
    "delete_client",
    "get_client",
    "get_client_snapshot",
    "list_clients",
    "remove_tag",
    "update_client",
]
