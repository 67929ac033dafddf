"""The one way a request body's JSON is decoded: nesting is bounded before anything else sees it.

msgspec decodes about a thousand levels and then raises RecursionError (a 500 if unhandled);
below that, every recursive consumer downstream (msgspec encoding for JSONB columns, the
templating sandbox, condition paths, audit redaction) would have to stay under Python's recursion
limit with its own frames on top. A fixed, documented depth no real payload comes near keeps all
of them safe without each one checking again.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import SerializationException
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
                self._json = self._connection_state.json = value
        return self._json
