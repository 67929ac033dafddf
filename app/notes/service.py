"""Notes on a client, written by people or by workflow ADD_NOTE steps. Never commits."""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

from app.audit.service import AuditTrail
from app.core.errors import FieldError, NotFoundError, UnprocessableError
from app.core.listing import FIRST_PAGE, PageQuery, Where, keyset_rows
from app.core.sql import fetchrow, to_struct
from app.core.text import trim
from app.notes.schemas import NoteOut, NotePage

RESOURCE = "note"
AUDIT = AuditTrail(RESOURCE)
_RETURNING = "id, client, body, author, execution, created_at, updated_at"


def _out(row: Mapping[str, Any]) -> NoteOut:
    return to_struct(NoteOut, row, client_id="client", author_id="author", execution_id="execution")


async def add_note(
    *,
    tenant_id: UUID,
    client_id: UUID,
    body: str,
    author_id: UUID | None,
    execution_id: UUID | None = None,
) -> NoteOut:
    """Add a note to one of the tenant's clients (404 naming $.client_id if not theirs)."""
    if not trim(body):
        raise UnprocessableError("A note needs a body.", errors=[FieldError("$.body", "empty")])
    row = await fetchrow(
        f"""
        INSERT INTO notes (id, client, author, execution, body, created_at, updated_at)
        SELECT $1, c.id, $3, $4, $5, now(), now() FROM clients c WHERE c.id = $2 AND c.tenant = $6
        RETURNING {_RETURNING}
        """,
        uuid4(),
        client_id,
        author_id,
        execution_id,
        body,
        tenant_id,
    )
    if row is None:
        raise UnprocessableError(
            "The client does not exist.", errors=[FieldError("$.client_id", "unknown client")]
        )
    note = _out(row)
    await AUDIT.record(
        tenant_id=tenant_id,
        action="create",
        resource_id=row["id"],
        after={"client_id": str(note.client_id), "body": body},
    )
    return note


_SELECT = (
    "SELECT n.id, n.client, n.body, n.author, n.execution, n.created_at, n.updated_at "
    "FROM notes n JOIN clients c ON c.id = n.client"
)


async def get_note(*, tenant_id: UUID, note_id: UUID) -> NoteOut:
    row = await fetchrow(f"{_SELECT} WHERE n.id = $1 AND c.tenant = $2", note_id, tenant_id)
    if row is None:
        raise NotFoundError("No such note.")
    return _out(row)


async def update_note(*, tenant_id: UUID, note_id: UUID, body: str) -> NoteOut:
    row = await fetchrow(
        f"""
        UPDATE notes AS n SET body = $3, updated_at = now()
        FROM (SELECT n2.id, n2.body FROM notes n2 JOIN clients c ON c.id = n2.client
              WHERE n2.id = $1 AND c.tenant = $2 FOR UPDATE OF n2) AS old
        WHERE n.id = old.id
        RETURNING {", ".join("n." + c for c in _RETURNING.split(", "))}, old.body AS old_body
        """,
        note_id,
        tenant_id,
        body,
    )
    if row is None:
        raise NotFoundError("No such note.")
    await AUDIT.record(
        tenant_id=tenant_id,
        action="update",
        resource_id=note_id,
        before={"body": row["old_body"]},
        after={"body": body},
    )
    return _out(row)


async def delete_note(*, tenant_id: UUID, note_id: UUID) -> None:
    row = await fetchrow(
        "DELETE FROM notes n USING clients c WHERE n.id = $1 AND c.id = n.client "
        "AND c.tenant = $2 RETURNING n.id, n.client, n.body",
        note_id,
        tenant_id,
    )
    if row is None:
        raise NotFoundError("No such note.")
    await AUDIT.record(
        tenant_id=tenant_id,
        action="delete",
        resource_id=note_id,
        before={"client_id": str(row["client"]), "body": row["body"]},
    )


async def list_notes(
    *,
    tenant_id: UUID,
    client_id: UUID | None,
    page: PageQuery = FIRST_PAGE,
) -> NotePage:
    where = Where().equal("c.tenant", tenant_id)
    where.equal("n.client", client_id)
    rows, next_cursor = await keyset_rows(
        select="n.id, n.client, n.body, n.author, n.execution, n.created_at, n.updated_at",
        from_="notes n JOIN clients c ON c.id = n.client",
        where=where,
        alias="n",
        page=page,
    )
    return NotePage(items=[_out(r) for r in rows], next_cursor=next_cursor)
