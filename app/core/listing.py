"""Shared plumbing for keyset-paginated, filtered listings written in raw SQL.

Every list endpoint builds a WHERE clause from typed filters, adds the cursor condition and asks
for limit+1 rows; no COUNT(*) is ever run.
"""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.enums import ParamType
from litestar.params import QueryParameter

from app.core.auth import Principal
from app.core.errors import FieldError, UnprocessableError
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, build_page, decode_cursor
from app.core.sql import fetch


class CreatedSort(StrEnum):
    """Newest first by default; `created_at` for oldest first."""

    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"


@dataclass
class Where:
    """A WHERE clause under construction with asyncpg `$n` placeholders."""

    clauses: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"

    def equal(self, column: str, value: Any) -> Where:
        """`column = value` when a value is given (an enum by its value); chainable."""
        if value is not None:
            self.add(f"{column} = {self.param(value.value if isinstance(value, Enum) else value)}")
        return self

    def created_between(self, alias: str, after: datetime | None, before: datetime | None) -> None:
        """Rows created at or after `after` and before `before`, each when given."""
        if after is not None:
            self.add(f"{alias}.created_at >= {self.param(after)}")
        if before is not None:
            self.add(f"{alias}.created_at < {self.param(before)}")


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class SortSpec:
    column: str  # qualified SQL column, e.g. "c.created_at"
    key: str  # the column's name in the result row
    descending: bool
    sort_type: type


def sort_spec(sort: str, *, alias: str, types: dict[str, type] | None = None) -> SortSpec:
    """'-created_at' -> descending by alias.created_at; the column set is fixed by the enum."""
    name = sort.lstrip("-")
    sort_type = (types or {}).get(name, datetime)
    return SortSpec(f"{alias}.{name}", name, sort.startswith("-"), sort_type)


@dataclass(frozen=True)
class PageQuery:
    """Which page of a listing: its order (a value of the listing's sort enum), the cursor the
    previous page returned, and the page size. List routes take it as the `page` dependency."""

    sort: str = CreatedSort.CREATED_AT_DESC
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


# The newest rows, a page of the default size.
FIRST_PAGE = PageQuery()


async def keyset_rows(
    *,
    select: str,
    from_: str,
    where: Where,
    alias: str,
    page: PageQuery,
    sorts: type[StrEnum] = CreatedSort,
    types: dict[str, type] | None = None,
) -> tuple[list[asyncpg.Record], str | None]:
    """One page of rows (at most page.limit) ordered by (alias.<sort column>, alias.id), and the
    cursor of the next page, if any. `sorts` is the listing's sort enum (the orders it offers)."""
    sort = sort_spec(sorts(page.sort).value, alias=alias, types=types)
    id_column = f"{alias}.id"
    op = "<" if sort.descending else ">"
    if page.cursor:
        value, row_id = decode_cursor(page.cursor, sort_type=sort.sort_type)
        a, b = where.param(value), where.param(row_id)
        where.add(f"({sort.column}, {id_column}) {op} ({a}, {b})")
    direction = "DESC" if sort.descending else "ASC"
    query = (
        f"SELECT {select} FROM {from_} WHERE {where.sql()} "
        f"ORDER BY {sort.column} {direction}, {id_column} {direction} LIMIT {int(page.limit) + 1}"
    )
    rows = await fetch(query, *where.args)
    built = build_page(rows, limit=page.limit, key=lambda r: (r[sort.key], r["id"]))
    return built.items, built.next_cursor


# Query parameters every listing takes.
Cursor = Annotated[
    str | None,
    QueryParameter(
        description="`next_cursor` of the previous page (opaque)",
        max_length=1000,
        pattern=r"^[A-Za-z0-9_-]+$",
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size (at most 200)")]
# Filters several listings share: one name and one meaning everywhere (a row's client is `client`).
ClientFilter = Annotated[UUID | None, QueryParameter(description="Only rows of this client (id)")]
CreatedAfter = Annotated[datetime | None, QueryParameter(description="Created at or after")]
CreatedBefore = Annotated[datetime | None, QueryParameter(description="Created before")]
AuthRequest = Request[Principal, Any, Any]
# A list route's `page` parameter: sort, cursor and limit from the query (see page_dependency).
Paging = NamedDependency[PageQuery]


def page_dependency(sorts: type[StrEnum] = CreatedSort) -> Provide:
    """The `page` dependency of a router or controller whose listings sort by `sorts`.

    One place declares the three query parameters every listing takes (and their OpenAPI);
    the route names only its own filters. reject_unknown_query counts these as declared.
    """
    default = sorts("-created_at")

    def page(sort: Any = default, cursor: Any = None, limit: Any = DEFAULT_LIMIT) -> PageQuery:
        return PageQuery(sort=sort, cursor=cursor, limit=limit)

    hint = ", ".join(f"`{m.value}`" for m in sorts) + " (`-`: descending; default `-created_at`)"
    page.__annotations__ = {
        "sort": Annotated[sorts, QueryParameter(description=hint)],
        "cursor": Cursor,
        "limit": Limit,
        "return": PageQuery,
    }
    return Provide(page, sync_to_thread=False)


_ALLOWED_QUERY: dict[int, frozenset[str]] = {}


def _declared_query(handler: Any) -> frozenset[str]:
    allowed = _ALLOWED_QUERY.get(id(handler))
    if allowed is None:
        names = set()
        signatures = [handler.parsed_fn_signature]
        dependencies = handler.resolve_dependencies()
        # The query parameters of the dependencies the handler takes (e.g. `page`) count too.
        signatures += [
            dependencies[name].parsed_fn_signature
            for name in handler.parsed_fn_signature.parameters
            if name in dependencies
        ]
        for signature in signatures:
            for name, field_def in signature.parameters.items():
                kwarg = field_def.kwarg_definition
                if getattr(kwarg, "param_type", None) is ParamType.QUERY:
                    names.add(getattr(kwarg, "name", None) or name)
        allowed = _ALLOWED_QUERY[id(handler)] = frozenset(names)
    return allowed


async def reject_unknown_query(request: Request[Any, Any, Any]) -> None:
    """before_request of every /api/v1 route: a misspelt filter (`?stauts=ACTIVE`) is a 422."""
    unknown = sorted(set(request.query_params) - _declared_query(request.route_handler))
    if unknown:
        raise UnprocessableError(
            "Unknown query parameters.",
            errors=[FieldError(f"query.{name}", "unknown parameter") for name in unknown],
        )
