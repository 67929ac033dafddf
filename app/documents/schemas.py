"""Wire types of the documents API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import msgspec
from litestar.datastructures import UploadFile


@dataclass
class DocumentUpload:
    """multipart/form-data with one part named `file`."""

    file: UploadFile


class DocumentOut(msgspec.Struct, kw_only=True):
    id: UUID
    client_id: UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by_id: UUID | None
    created_at: datetime


class DocumentPage(msgspec.Struct, kw_only=True):
    items: list[DocumentOut]
    next_cursor: str | None = None
