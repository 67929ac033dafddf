"""Tell "no such route" from "a route, but its id is malformed".

Litestar matches `{client_id:uuid}` by parsing the segment, so `/clients/not-a-uuid` matches
no route and would answer a bare 404, while the same value in a query answers 422. When the
router finds nothing, the path is matched again against every route with the typed segments
loosened; if one fits, the request named a real route with a bad id: 422 naming the parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar import Litestar

from app.core.errors import FieldError

_SEGMENT = re.compile(r"\{([^}:]+)(?::([^}]+))?\}")


@dataclass(frozen=True, slots=True)
class _Template:
    pattern: re.Pattern[str]
    uuid_params: tuple[str, ...]


def _compile(path: str) -> _Template | None:
    uuid_params: list[str] = []
    parts: list[str] = []
    last = 0
    for match in _SEGMENT.finditer(path):
        parts.append(re.escape(path[last : match.start()]))
        name, kind = match.group(1), match.group(2) or "str"
        parts.append(f"(?P<{name}>.*)" if kind == "path" else f"(?P<{name}>[^/]+)")
        if kind == "uuid":
            uuid_params.append(name)
        last = match.end()
    if not uuid_params:
        return None
    parts.append(re.escape(path[last:]))
    return _Template(re.compile("".join(parts) + "/?"), tuple(uuid_params))


_CACHE: dict[int, list[_Template]] = {}


def _templates(app: Litestar) -> list[_Template]:
    key = id(app)
    if key not in _CACHE:
        compiled = (_compile(route.path) for route in app.routes)
        _CACHE[key] = [t for t in compiled if t is not None]
    return _CACHE[key]


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def malformed_path_ids(app: Any, path: str) -> list[FieldError]:
    """FieldErrors (`path.<name>`) when `path` is a known route whose uuid segment is malformed."""
    if not isinstance(app, Litestar):
        return []
    for template in _templates(app):
        match = template.pattern.fullmatch(path)
        if match is None:
            continue
        bad = [name for name in template.uuid_params if not _is_uuid(match.group(name))]
        if bad:
            return [FieldError(f"path.{name}", "must be a UUID") for name in bad]
    return []
