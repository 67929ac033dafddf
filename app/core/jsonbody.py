"""The one way a request body's JSON is decoded: nesting is bounded before anything else sees it,
and types are checked as the OpenAPI document states them.

msgspec decodes about a thousand levels and then raises RecursionError (a 500 if unhandled);
below that, every recursive consumer downstream (msgspec encoding for JSONB columns, the
templating sandbox, condition paths, audit redaction) would have to stay under Python's recursion
limit with its own frames on top. A fixed, documented depth no real payload comes near keeps all
of them safe without each one checking again.

Litestar converts a body into the handler's `data` type in msgspec's lax mode (it must, for query
strings), which also takes "60" for an integer, "true" for a boolean and a Unix time for a date:
bodies the OpenAPI calls invalid. check_body_types refuses those with the same 422 as any other
type error, so the document describes exactly what is accepted. An integer written as 60.0 stays
accepted: JSON Schema's "integer" includes it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import SerializationException, ValidationException
from litestar.types import Empty

from app.core.errors import FieldError, UnprocessableError

# Containers inside containers, the whole body counting as level 1: {"a": {"b": 1}} is depth 2.
MAX_JSON_DEPTH = 32


class JsonTooDeepError(UnprocessableError):
    """A body nested deeper than MAX_JSON_DEPTH; `errors` names where the limit was crossed."""


def _too_deep(path: str) -> JsonTooDeepError:
    return JsonTooDeepError(
        f"JSON may be nested at most {MAX_JSON_DEPTH} levels deep.",
        errors=[FieldError(path, f"nested deeper than {MAX_JSON_DEPTH} levels")],
    )


def _child_path(parent: str, key: str | int) -> str:
    return f"{parent}[{key}]" if isinstance(key, int) else f"{parent}.{key}"


def check_depth(value: Any, *, root: str = "$") -> None:
    """Raise JsonTooDeepError when `value` nests containers deeper than MAX_JSON_DEPTH.

    The error names the body's top-level member holding the nesting (`$.custom_fields`): the
    field the client sent, not a path dozens of segments long. Iterative on purpose: a recursive
    walk would itself hit the recursion limit it guards; only containers are pushed.
    """
    stack: list[tuple[Any, str | None, int]] = [(value, None, 1)]
    while stack:
        node, member, depth = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, dict | list):
                where = member or _child_path(root, key)
                if depth + 1 > MAX_JSON_DEPTH:
                    raise _too_deep(where)
                stack.append((child, where, depth + 1))


def decode_bounded(body: bytes | str) -> Any:
    """Decode JSON text, refusing nesting past MAX_JSON_DEPTH (422) and malformed text (400).

    Raises msgspec.DecodeError for malformed JSON so callers keep their own 400 wording.
    """
    try:
        value = msgspec.json.decode(body)
    except RecursionError as exc:
        # Far past the limit: the parser gave up before we could say where.
        raise _too_deep("$") from exc
    if isinstance(value, dict | list):
        check_depth(value)
    return value


def _integral_floats_as_ints(value: Any) -> Any:
    """A copy with 60.0 as 60 (the same JSON number to JSON Schema), for the strict check."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(v) for v in value]
    return value


def _body_type(request: Request[Any, Any, Any]) -> Any:
    """The handler's `data` type when it is one msgspec checks field by field, else None."""
    handler = request.scope.get("route_handler")
    field = handler.parsed_fn_signature.parameters.get("data") if handler is not None else None
    if field is None or field.annotation is Any or field.is_mapping:
        return None
    return field.annotation


def check_body_types(value: Any, kind: Any) -> None:
    """422 (as Litestar words it) for a body only lax conversion takes: "60" for an integer,
    "true" for a boolean, a number for a date-time. Other errors are left to Litestar."""
    try:
        msgspec.convert(_integral_floats_as_ints(value), kind, str_keys=True)
        return
    except msgspec.ValidationError as strict_error:
        try:
            msgspec.convert(value, kind, strict=False, str_keys=True)
        except (msgspec.ValidationError, TypeError, ValueError):
            return  # invalid either way: Litestar's own conversion reports it
        message, _, where = str(strict_error).partition(" - at `")
        raise ValidationException(
            extra=[{"key": where.rstrip("`") or "data", "source": "body", "message": message}]
        ) from strict_error
    except (TypeError, ValueError):
        return  # a type msgspec cannot convert alone (Litestar's decoders handle it)


class BoundedJsonRequest(Request[Any, Any, Any]):
    """Litestar's Request with the JSON body decoded through decode_bounded (see module doc)."""

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                body = await self.body()
                try:
                    value = decode_bounded(body or b"null")
                except msgspec.DecodeError as exc:
                    # What Litestar raises for malformed JSON, so its 400 answer stays the same.
                    raise SerializationException(str(exc)) from exc
                kind = _body_type(self)
                if kind is not None and value is not None:
                    check_body_types(value, kind)
                self._json = self._connection_state.json = value
        return self._json
