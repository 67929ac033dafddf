"""Documents: upload (with its DOCUMENT_UPLOADED event), list, download, delete. Never commits."""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from litestar.datastructures import UploadFile

from app.audit.service import AuditTrail
from app.core.errors import NotFoundError
from app.core.listing import FIRST_PAGE, PageQuery, Where, keyset_rows
from app.core.sql import fetchrow, to_struct
from app.core.uow import call_after_commit
from app.documents.schemas import DocumentOut, DocumentPage
from app.documents.storage import StoredFile, path_for, remove_files, store_upload
from app.events.service import record_event
from tables.enums import TriggerType

RESOURCE = "document"
AUDIT = AuditTrail(RESOURCE)
_COLUMNS = (
    "d.id, d.client, d.filename, d.content_type, d.size_bytes, d.sha256, d.uploaded_by, "
    "d.created_at, d.storage_key"
)
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
DEFAULT_MEDIA_TYPE = "application/octet-stream"


def clean_filename(raw: str | None) -> str:
    """The last path component, printable, at most 255 characters."""
    name = PureWindowsPath(PurePosixPath(raw or "").name).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255] or "upload"


def clean_media_type(raw: str | None) -> str:
    media = (raw or "").split(";", 1)[0].strip().lower()
    return media if _MEDIA_TYPE.match(media) and len(media) <= 255 else DEFAULT_MEDIA_TYPE


def _out(row: Mapping[str, Any]) -> DocumentOut:
    return to_struct(DocumentOut, row, client_id="client", uploaded_by_id="uploaded_by")


async def upload_document(
    *, tenant_id: UUID, client_id: UUID, actor_id: UUID | None, upload: UploadFile
) -> DocumentOut:
    """Store the bytes, record the row and its DOCUMENT_UPLOADED event; 404 for others' clients."""
    document_id = uuid4()
    stored: StoredFile = await store_upload(
        tenant_id=tenant_id, document_id=document_id, upload=upload
    )
    try:
        return await _insert(
            tenant_id=tenant_id,
            client_id=client_id,
            actor_id=actor_id,
            document_id=document_id,
            filename=clean_filename(upload.filename),
            content_type=clean_media_type(upload.content_type),
            stored=stored,
        )
    except BaseException:
        # The transaction rolls back; the bytes must not outlive it.
        remove_files([stored.key])
        raise


async def _insert(
    *,
    tenant_id: UUID,
    client_id: UUID,
    actor_id: UUID | None,
    document_id: UUID,
    filename: str,
    content_type: str,
    stored: StoredFile,
) -> DocumentOut:
    row = await fetchrow(
        f"""
        INSERT INTO documents AS d (id, client, uploaded_by, filename, content_type, size_bytes,
                                    sha256, storage_key, created_at)
        SELECT $1, c.id, $3, $4, $5, $6, $7, $8, now() FROM clients c
        WHERE c.id = $2 AND c.tenant = $9
        RETURNING {_COLUMNS}
        """,
        document_id,
        client_id,
        actor_id,
        filename,
        content_type,
        stored.size_bytes,
        stored.sha256,
        stored.key,
        tenant_id,
    )
    if row is None:
        raise NotFoundError("No such client.")
    payload = {
        "document_id": str(document_id),
        "filename": filename,
        "content_type": content_type,
        "size_bytes": stored.size_bytes,
        "sha256": stored.sha256,
    }
    await record_event(
        tenant_id=tenant_id,
        type=TriggerType.DOCUMENT_UPLOADED.value,
        payload=payload,
        client_id=client_id,
        actor_id=actor_id,
    )
    await AUDIT.record(
        tenant_id=tenant_id,
        action="create",
        resource_id=document_id,
        after={**payload, "client_id": str(client_id)},
    )
    return _out(row)


_FROM = "documents d JOIN clients c ON c.id = d.client"


async def _get_row(*, tenant_id: UUID, document_id: UUID) -> asyncpg.Record:
    row = await fetchrow(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE d.id = $1 AND c.tenant = $2", document_id, tenant_id
    )
    if row is None:
        raise NotFoundError("No such document.")
    return row


async def get_document(*, tenant_id: UUID, document_id: UUID) -> DocumentOut:
    return _out(await _get_row(tenant_id=tenant_id, document_id=document_id))


async def document_file(*, tenant_id: UUID, document_id: UUID) -> tuple[DocumentOut, str]:
    """The document and the path of its bytes (404 if either is gone)."""
    row = await _get_row(tenant_id=tenant_id, document_id=document_id)
    path = path_for(row["storage_key"])
    if not path.is_file():
        raise NotFoundError("The document's content is no longer stored.")
    return _out(row), str(path)


async def delete_document(*, tenant_id: UUID, document_id: UUID) -> None:
    """Delete the row; its file goes once that commits."""
    row = await fetchrow(
        f"DELETE FROM documents d USING clients c WHERE d.id = $1 AND c.id = d.client "
        f"AND c.tenant = $2 RETURNING {_COLUMNS}",
        document_id,
        tenant_id,
    )
    if row is None:
        raise NotFoundError("No such document.")
    doc = _out(row)
    await AUDIT.record(
        tenant_id=tenant_id,
        action="delete",
        resource_id=document_id,
        before={"client_id": str(doc.client_id), "filename": doc.filename, "sha256": doc.sha256},
    )
    key = str(row["storage_key"])
    call_after_commit(lambda: remove_files([key]))


async def list_documents(
    *,
    tenant_id: UUID,
    client_id: UUID | None,
    page: PageQuery = FIRST_PAGE,
) -> DocumentPage:
    where = Where().equal("c.tenant", tenant_id)
    where.equal("d.client", client_id)
    rows, next_cursor = await keyset_rows(
        select=_COLUMNS,
        from_=_FROM,
        where=where,
        alias="d",
        page=page,
    )
    return DocumentPage(items=[_out(r) for r in rows], next_cursor=next_cursor)
