"""Keyset (cursor) pagination: stable and fast at any depth, no COUNT(*) per page.

Pages are ordered by (sort column, id); the cursor carries the last row's pair. It is opaque to
clients (base64 JSON) and validated on the way back in.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import msgspec

from app.core.errors import FieldError, UnprocessableError

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)]


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    # Pass back as `cursor` to get the next page; null on the last page.
    next_cursor: str | None = None


_CursorData = tuple[str | int | float | bool | None, str]


def encode_cursor(sort_value: Any, row_id: UUID) -> str:
    raw = msgspec.json.encode([sort_value, str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, sort_type: type) -> tuple[Any, UUID]:
    """(sort value, id) from a cursor; 422 on anything we did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        # Typed: a cursor holds a scalar and an id, so a crafted one nested a thousand levels
        # deep is refused at its first bracket instead of exhausting the recursion limit.
        value, row_id = msgspec.json.decode(base64.urlsafe_b64decode(padded), type=_CursorData)
        parsed: Any = msgspec.convert(value, sort_type, strict=False)
        return parsed, UUID(row_id)
    except (
        ValueError,
        TypeError,
        binascii.Error,
        msgspec.DecodeError,
        msgspec.ValidationError,
    ) as exc:
        raise UnprocessableError(
            "The cursor is not valid for this listing.",
            errors=[FieldError("query.cursor", "invalid cursor")],
        ) from exc


def keyset_condition(column: str, *, descending: bool, placeholder_start: int) -> str:
    """SQL for rows after the cursor: `(col, id) < ($n, $n+1)` (or `>` ascending)."""
    op = "<" if descending else ">"
    a, b = placeholder_start, placeholder_start + 1
    return f"({column}, id) {op} (${a}, ${b})"


def build_page(rows: list[T], *, limit: int, key: Any) -> Page[T]:
    """rows were fetched with LIMIT limit+1; key(row) -> (sort value, id) for the cursor."""
    has_more = len(rows) > limit
    items = rows[:limit]
    next_cursor = None
    if has_more and items:
        sort_value, row_id = key(items[-1])
        if isinstance(sort_value, datetime):
            sort_value = sort_value.isoformat()
        next_cursor = encode_cursor(sort_value, row_id)
    return Page(items=items, next_cursor=next_cursor)
