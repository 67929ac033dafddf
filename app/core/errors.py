"""Every error leaves the API as RFC 9457 problem+json; domain errors carry their HTTP status."""

from __future__ import annotations

import logging
import re
from typing import Any

import asyncpg
import msgspec
from litestar import MediaType, Request, Response
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Schema
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap
from litestar.typing import FieldDefinition

from app.core.db import RETRY_AFTER_S, database_lost, is_database_unavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class FieldError(dict[str, str]):
    """One invalid field: {"path": "$.actions[0].config.to", "message": "..."}."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path=path, message=message)


class AppError(Exception):
    """A failure the client can act on; subclasses fix the status and title."""

    status_code = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


class BadRequestError(AppError):
    status_code = 400
    title = "Bad request"


class UnauthorizedError(AppError):
    status_code = 401
    title = "Unauthorized"


class ForbiddenError(AppError):
    status_code = 403
    title = "Forbidden"


class NotFoundError(AppError):
    status_code = 404
    title = "Not found"


class ConflictError(AppError):
    status_code = 409
    title = "Conflict"


class PayloadTooLargeError(AppError):
    status_code = 413
    title = "Payload too large"


class UnsupportedMediaTypeError(AppError):
    status_code = 415
    title = "Unsupported media type"


class UnprocessableError(AppError):
    status_code = 422
    title = "Validation failed"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    request: Request[Any, Any, Any] | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    if errors:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _app_error(request: Request[Any, Any, Any], exc: AppError) -> Response[dict[str, Any]]:
    return problem(
        exc.status_code,
        exc.title,
        exc.detail,
        request=request,
        errors=exc.errors,
        headers=exc.headers,
    )


_FIELD_IN_MESSAGE = re.compile(r"^Object (?:contains unknown|missing required) field `(.+)`$")


def _to_json_path(key: str, source: Any, message: str) -> str:
    """Litestar's (key, source) as a JSON path; the whole body is `$`, not `$.data`."""
    # Litestar reports parameter sources as a ParamType enum, the body as the string "body".
    source = getattr(source, "value", source)
    if source in ("query", "path", "header", "cookie"):
        return f"{source}.{key}"
    if source == "body" and key == "data":
        key = ""
    path = key if key.startswith("$") else ("$." + key if key else "$")
    # msgspec names the offending member only in the message.
    match = _FIELD_IN_MESSAGE.match(message)
    if match:
        path = f"{path}.{match.group(1)}"
    return path


def _validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    items = [i for i in (exc.extra if isinstance(exc.extra, list) else []) if isinstance(i, dict)]
    # A missing body is reported by Litestar as the parameter name in quotes: it is not a
    # field error, the request itself is malformed.
    if any(
        i.get("source") == "body" and i.get("key") == "data" and i.get("message") == "'data'"
        for i in items
    ):
        return problem(400, "Bad request", "The request body is missing.", request=request)
    errors = [
        FieldError(
            _to_json_path(
                str(item.get("key", "")), item.get("source"), str(item.get("message", ""))
            ),
            str(item.get("message") or "invalid value"),
        )
        for item in items
        if item.get("key")
    ]
    if errors:
        return problem(
            422,
            "Validation failed",
            "The request has invalid fields.",
            request=request,
            errors=errors,
        )
    detail = exc.detail or "The request could not be parsed."
    if items:
        messages = [str(i.get("message")) for i in items]
        detail = "; ".join(m for m in messages if m) or detail
    return problem(400, "Bad request", detail, request=request)


def _undecodable(
    request: Request[Any, Any, Any], exc: UnicodeDecodeError
) -> Response[dict[str, Any]]:
    # Litestar decodes JSON bodies as UTF-8 and lets this escape as a 500.
    return problem(400, "Bad request", "The request body is not valid UTF-8.", request=request)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if isinstance(exc, ValidationException):
        return _validation_error(request, exc)
    status = exc.status_code
    if status == 404:
        # The router found no route: say so only if no route fits, else name the bad id (422).
        from app.core.path_ids import malformed_path_ids

        bad_ids = malformed_path_ids(request.app, request.url.path)
        if bad_ids:
            return problem(
                422,
                "Validation failed",
                "The request has invalid fields.",
                request=request,
                errors=bad_ids,
            )
    title = {
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        409: "Conflict",
        413: "Payload too large",
        415: "Unsupported media type",
        429: "Too many requests",
    }.get(status, "Error" if status >= 500 else "Bad request")
    return problem(status, title, exc.detail, request=request, headers=exc.headers)


def _unavailable(request: Request[Any, Any, Any], exc: BaseException) -> Response[dict[str, Any]]:
    """503 + Retry-After while the database cannot be reached: the request may be sent again."""
    database_lost(exc)
    return problem(
        503,
        "Service unavailable",
        "The database is unreachable; retry after the number of seconds in Retry-After.",
        request=request,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _database_error(
    request: Request[Any, Any, Any], exc: asyncpg.PostgresError
) -> Response[dict[str, Any]]:
    if is_database_unavailable(exc):
        return _unavailable(request, exc)
    # Constraint violations reaching here are races the service could not pre-check.
    if isinstance(exc, asyncpg.UniqueViolationError):
        return problem(
            409,
            "Conflict",
            "A resource with the same unique fields already exists.",
            request=request,
        )
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return problem(
            409,
            "Conflict",
            "A referenced resource does not exist or is still in use.",
            request=request,
        )
    if isinstance(
        exc, (asyncpg.CheckViolationError, asyncpg.NotNullViolationError, asyncpg.DataError)
    ):
        return problem(
            422, "Validation failed", "A value is outside what the field accepts.", request=request
        )
    return _unexpected(request, exc)


def _unexpected_or_unavailable(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    if is_database_unavailable(exc):
        return _unavailable(request, exc)
    return _unexpected(request, exc)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal server error",
        "The server failed to handle the request.",
        request=request,
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    AppError: _app_error,
    HTTPException: _http_error,
    asyncpg.PostgresError: _database_error,
    UnicodeDecodeError: _undecodable,
    Exception: _unexpected_or_unavailable,
}

__all__ = [
    "EXCEPTION_HANDLERS",
    "PROBLEM_JSON",
    "AppError",
    "BadRequestError",
    "ConflictError",
    "FieldError",
    "ForbiddenError",
    "MediaType",
    "NotFoundError",
    "PayloadTooLargeError",
    "Problem",
    "ProblemFieldError",
    "StrictStructSchemaPlugin",
    "UnauthorizedError",
    "UnprocessableError",
    "UnsupportedMediaTypeError",
    "error_responses",
    "problem",
]


class ProblemFieldError(msgspec.Struct):
    path: str
    message: str


class Problem(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details (documents every error response in the OpenAPI schema)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemFieldError] | None = None


_RESPONSE_TEXT = {
    400: "Malformed request (e.g. invalid JSON)",
    401: "Missing, unknown or revoked API key",
    403: "The key's role may not do this",
    404: "No such resource in this tenant",
    409: "Conflicts with the current state",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid fields; `errors` lists each field's JSON path",
    503: "The database is unreachable; retry after `Retry-After` seconds",
}


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem+json answers a route can give (400/401/422 always)."""
    return {
        code: ResponseSpec(
            data_container=Problem,
            description=_RESPONSE_TEXT[code],
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for code in sorted({400, 401, 422, *codes})
    }


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Document `additionalProperties: false` for structs that reject unknown fields (422)."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if not isinstance(info, msgspec.inspect.StructType):
            return schema
        if info.forbid_unknown_fields:
            schema.additional_properties = False
        for field in info.fields:
            _document_list_items(schema, field)
            _document_number_bounds(schema, field)
        return schema


def _unwrapped(item: msgspec.inspect.Type) -> msgspec.inspect.Type:
    # A Meta with a description or title is seen as Metadata around the constrained type.
    return item.type if isinstance(item, msgspec.inspect.Metadata) else item


def _string_constraints(item: msgspec.inspect.Type) -> dict[str, Any]:
    item = _unwrapped(item)
    if not isinstance(item, msgspec.inspect.StrType):
        return {}
    found = {
        "min_length": item.min_length,
        "max_length": item.max_length,
        "pattern": item.pattern,
    }
    return {k: v for k, v in found.items() if v is not None}


def _document_list_items(schema: Schema, field: msgspec.inspect.Field) -> None:
    """Litestar drops constraints on list items (e.g. list[Annotated[str, Meta(...)]])."""
    for member in _members(field):
        if not isinstance(member, msgspec.inspect.ListType):
            continue
        constraints = _string_constraints(member.item_type)
        prop = (schema.properties or {}).get(field.encode_name)
        if not constraints or not isinstance(prop, Schema):
            continue
        for candidate in [prop, *(prop.one_of or [])]:
            if isinstance(candidate, Schema) and isinstance(candidate.items, Schema):
                for name, value in constraints.items():
                    setattr(candidate.items, name, value)


def _members(field: msgspec.inspect.Field) -> tuple[msgspec.inspect.Type, ...]:
    kind = _unwrapped(field.type)
    types = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)
    return tuple(_unwrapped(t) for t in types)


def _document_number_bounds(schema: Schema, field: msgspec.inspect.Field) -> None:
    """Litestar drops a bound of 0 on an optional number (`Annotated[int, Meta(ge=0)] | None`):
    a client generated from the schema would send -1 and get a 422 it was never told about."""
    prop = (schema.properties or {}).get(field.encode_name)
    if not isinstance(prop, Schema):
        return
    for member in _members(field):
        if not isinstance(member, msgspec.inspect.IntType | msgspec.inspect.FloatType):
            continue
        bounds = {
            "minimum": member.ge,
            "maximum": member.le,
            "exclusive_minimum": member.gt,
            "exclusive_maximum": member.lt,
        }
        for name, value in bounds.items():
            if value is not None and getattr(prop, name) is None:
                setattr(prop, name, value)
