"""Document bytes on disk under settings.storage_dir; the database keeps only the key."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from litestar.datastructures import UploadFile

from app.core.config import get_settings
from app.core.errors import PayloadTooLargeError

_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    size_bytes: int
    sha256: str


def path_for(key: str) -> Path:
    return get_settings().storage_dir / key


async def store_upload(*, tenant_id: UUID, document_id: UUID, upload: UploadFile) -> StoredFile:
    """Copy the upload to storage, hashing it; 413 (and nothing kept) past the size limit."""
    limit = get_settings().upload_max_bytes
    key = f"{tenant_id}/{document_id}"
    target = path_for(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := await upload.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(f"A document may be at most {limit} bytes.")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        remove_files([key])
        raise
    return StoredFile(key=key, size_bytes=size, sha256=digest.hexdigest())


def remove_files(keys: list[str]) -> None:
    """Best effort: a leftover file is harmless, a failed request because of one is not."""
    for key in keys:
        with contextlib.suppress(OSError):
            path_for(key).unlink(missing_ok=True)
