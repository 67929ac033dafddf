"""HTTP: upload under /api/v1/clients/{id}/documents; list, get, download, delete /documents."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, MultipartBody
from litestar.response import File

from app.core.config import get_settings
from app.core.errors import PayloadTooLargeError, UnsupportedMediaTypeError, error_responses
from app.core.listing import AuthRequest, ClientFilter, Paging, reject_unknown_query
from app.core.text import is_ascii_digits
from app.documents import service
from app.documents.schemas import DocumentOut, DocumentPage, DocumentUpload

# Room for the multipart envelope around a file of exactly the maximum size.
_ENVELOPE_BYTES = 64 * 1024


async def _require_multipart(request: Request[Any, Any, Any]) -> None:
    """Reject before the body is parsed: wrong media type (415) or announced oversize (413)."""
    await reject_unknown_query(request)
    if request.content_type[0] != "multipart/form-data":
        raise UnsupportedMediaTypeError("Upload a document as multipart/form-data (part 'file').")
    limit = get_settings().upload_max_bytes
    length = request.headers.get("content-length", "")
    if is_ascii_digits(length) and int(length) > limit + _ENVELOPE_BYTES:
        raise PayloadTooLargeError(f"A document may be at most {limit} bytes.")


@post(
    "/clients/{client_id:uuid}/documents",
    tags=["documents"],
    summary="Upload a document (emits DOCUMENT_UPLOADED)",
    before_request=_require_multipart,
    responses=error_responses(404, 413, 415),
)
async def upload_document(
    request: AuthRequest, client_id: FromPath[UUID], data: MultipartBody[DocumentUpload]
) -> DocumentOut:
    p = request.user
    try:
        return await service.upload_document(
            tenant_id=p.tenant_id, client_id=client_id, actor_id=p.user_id, upload=data.file
        )
    finally:
        await data.file.close()


class DocumentController(Controller):
    path = "/documents"
    tags = ["documents"]

    @get("/", summary="List documents", responses=error_responses())
    async def list_documents(
        self, request: AuthRequest, page: Paging, client: ClientFilter = None
    ) -> DocumentPage:
        return await service.list_documents(
            tenant_id=request.user.tenant_id, client_id=client, page=page
        )

    @get("/{document_id:uuid}", summary="Get a document's metadata", responses=error_responses(404))
    async def get_document(self, request: AuthRequest, document_id: FromPath[UUID]) -> DocumentOut:
        return await service.get_document(tenant_id=request.user.tenant_id, document_id=document_id)

    @get(
        "/{document_id:uuid}/content",
        summary="Download a document's bytes",
        responses=error_responses(404),
        media_type="application/octet-stream",
    )
    async def download(self, request: AuthRequest, document_id: FromPath[UUID]) -> File:
        doc, path = await service.document_file(
            tenant_id=request.user.tenant_id, document_id=document_id
        )
        # The type and bytes are the uploader's: always a download, never rendered as a page of
        # ours (nosniff is on every response, see app/core/security_headers.py).
        return File(
            path=path,
            filename=doc.filename,
            media_type=doc.content_type,
            content_disposition_type="attachment",
            headers={"Content-Security-Policy": "sandbox; default-src 'none'"},
        )

    @delete("/{document_id:uuid}", summary="Delete a document", responses=error_responses(404))
    async def delete_document(self, request: AuthRequest, document_id: FromPath[UUID]) -> None:
        await service.delete_document(tenant_id=request.user.tenant_id, document_id=document_id)
