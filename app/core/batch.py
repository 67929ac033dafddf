"""Bulk routes: errors of many items, reported together with each item's path."""

from __future__ import annotations

from app.core.errors import AppError, ConflictError, FieldError, UnprocessableError


def item_path(index: int, path: str) -> str:
    """`$.name` of item 3 → `$.items[3].name`."""
    return f"$.items[{index}]{path[1:] if path.startswith('$') else '.' + path}"


class BatchErrors:
    """Errors of many items, raised together once every item was tried."""

    def __init__(self) -> None:
        self.invalid: list[FieldError] = []
        self.conflicts: list[FieldError] = []

    def add(self, index: int, exc: AppError) -> None:
        errors = exc.errors or [FieldError("$", exc.detail)]
        target = self.conflicts if isinstance(exc, ConflictError) else self.invalid
        target += [FieldError(item_path(index, e["path"]), e["message"]) for e in errors]

    def add_field(self, index: int, path: str, message: str) -> None:
        self.invalid.append(FieldError(item_path(index, path), message))

    def raise_any(self, what: str) -> None:
        if self.invalid:
            raise UnprocessableError(
                f"Some {what} are invalid; nothing was written.", errors=self.invalid
            )
        if self.conflicts:
            raise ConflictError(
                f"Some {what} conflict; nothing was written.", errors=self.conflicts
            )


__all__ = ["BatchErrors", "item_path"]
