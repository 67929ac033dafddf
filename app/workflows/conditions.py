"""Workflow conditions: checked on save with JSON paths, evaluated on {client, event, workflow}.

Shape: {"all": [...]}, {"any": [...]}, {"not": {...}} and leaves
{"field": "client.tags", "operator": "contains", "value": "vip"}; a bare leaf is a one-leaf "all".
`matches` uses RE2 (linear time, no backtracking) with capped pattern and input lengths, so a
saved pattern can never stall a worker.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import msgspec
import re2  # type: ignore[import-untyped]

from app.core.errors import FieldError
from app.core.text import is_ascii_digits, normalize_tag
from app.workflows.templating import unknown_field_problem

MAX_DEPTH = 8
MAX_LEAVES = 100
MAX_PATTERN_CHARS = 200
MAX_MATCH_INPUT_CHARS = 10_000
MAX_IN_VALUES = 1_000

ROOTS = ("client", "event", "workflow")
_FIELD = re.compile(r"^(client|event|workflow)(\.[A-Za-z0-9_\-]{1,100}){1,10}$")
_GROUPS = ("all", "any", "not")
_NO_VALUE = frozenset({"exists", "not_exists"})
OPERATORS = (
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "exists",
    "not_exists",
    "matches",
)

_MISSING = object()


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> Any:
    return re2.compile(pattern)


def _regex_problem(pattern: Any) -> str | None:
    if not isinstance(pattern, str) or not pattern:
        return "must be a non-empty regular expression string"
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"must be at most {MAX_PATTERN_CHARS} characters"
    try:
        _regex(pattern)
    except re2.error as exc:
        return f"is not a valid regular expression: {exc}"
    return None


def _value_problem(op: str, value: Any) -> str | None:
    if op in ("gt", "gte", "lt", "lte"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return "must be a number or a string"
    elif op in ("in", "not_in"):
        if not isinstance(value, list):
            return "must be a list"
        if len(value) > MAX_IN_VALUES:
            return f"must hold at most {MAX_IN_VALUES} values"
    elif op in ("starts_with", "ends_with"):
        if not isinstance(value, str):
            return "must be a string"
    elif op in ("contains", "not_contains"):
        if isinstance(value, (dict, list)) or value is None:
            return "must be a string, number or boolean"
    elif op == "matches":
        return _regex_problem(value)
    return None


def _validate_leaf(node: dict[str, Any], path: str) -> list[FieldError]:
    errors = [
        FieldError(f"{path}.{key}", "is not a known field")
        for key in node
        if key not in ("field", "operator", "value")
    ]
    field = node.get("field")
    if "field" not in node:
        errors.append(FieldError(f"{path}.field", "is required"))
    elif not isinstance(field, str) or not _FIELD.match(field):
        errors.append(
            FieldError(
                f"{path}.field",
                "must be a dotted path starting with client., event. or workflow. "
                '(e.g. "client.tags")',
            )
        )
    elif problem := unknown_field_problem(field.split(".")):
        errors.append(FieldError(f"{path}.field", problem))
    op = node.get("operator")
    if "operator" not in node:
        errors.append(FieldError(f"{path}.operator", "is required"))
        return errors
    if op not in OPERATORS:
        errors.append(FieldError(f"{path}.operator", f"must be one of {', '.join(OPERATORS)}"))
        return errors
    if op in _NO_VALUE:
        if node.get("value") is not None:
            errors.append(FieldError(f"{path}.value", f"is not used by {op}; leave it out"))
        return errors
    if "value" not in node:
        errors.append(FieldError(f"{path}.value", f"is required for {op}"))
        return errors
    problem = _value_problem(op, node["value"])
    if problem:
        errors.append(FieldError(f"{path}.value", problem))
    return errors


def _validate(node: Any, path: str, depth: int, leaves: list[int]) -> list[FieldError]:
    if not isinstance(node, dict):
        return [FieldError(path, "must be an object")]
    if depth > MAX_DEPTH:
        return [FieldError(path, f"nests deeper than {MAX_DEPTH} levels")]
    groups = [k for k in _GROUPS if k in node]
    if not groups:
        leaves[0] += 1
        if leaves[0] > MAX_LEAVES:
            return [FieldError(path, f"conditions may hold at most {MAX_LEAVES} comparisons")]
        if not node:
            return [FieldError(path, 'must be a group ("all", "any", "not") or a comparison')]
        return _validate_leaf(node, path)
    extra = [k for k in node if k != groups[0]]
    if extra:
        return [FieldError(f"{path}.{extra[0]}", f'cannot sit beside "{groups[0]}"')]
    key = groups[0]
    child = node[key]
    if key == "not":
        return _validate(child, f"{path}.not", depth + 1, leaves)
    if not isinstance(child, list):
        return [FieldError(f"{path}.{key}", "must be a list")]
    if not child:
        return [FieldError(f"{path}.{key}", "must hold at least one condition")]
    errors: list[FieldError] = []
    for i, item in enumerate(child):
        errors += _validate(item, f"{path}.{key}[{i}]", depth + 1, leaves)
    return errors


def validate_conditions(raw: Any, path: str = "$.conditions") -> list[FieldError]:
    """Every problem in a conditions tree, each with its JSON path; [] when valid or absent."""
    if raw is None or raw == {}:
        return []
    return _validate(raw, path, 1, [0])


def normalize_conditions(raw: Any) -> dict[str, Any] | None:
    """The stored form: None for "always", a bare leaf wrapped as a one-leaf "all", and values
    compared with client.tags spelled as tags are stored (trimmed, lower-case)."""
    if raw is None or raw == {}:
        return None
    if isinstance(raw, dict) and not any(k in raw for k in _GROUPS):
        return {"all": [_normalize_tag_values(raw)]}
    normalized = _normalize_tag_values(raw)
    return dict(normalized) if isinstance(normalized, dict) else None


def _tag_value(value: Any) -> Any:
    if isinstance(value, str):
        return normalize_tag(value)
    if isinstance(value, list):
        return [normalize_tag(v) if isinstance(v, str) else v for v in value]
    return value


def _normalize_tag_values(node: Any) -> Any:
    """A copy of a validated tree (depth <= MAX_DEPTH, so recursion is bounded)."""
    if not isinstance(node, dict):
        return node
    groups = [k for k in _GROUPS if k in node]
    if groups:
        child = node[groups[0]]
        if isinstance(child, list):
            return {groups[0]: [_normalize_tag_values(c) for c in child]}
        return {groups[0]: _normalize_tag_values(child)}
    # A regex is the author's own: lower-casing it would change what `\D` or `[A-Z]` mean.
    if node.get("field") == "client.tags" and node.get("operator") != "matches" and "value" in node:
        return {**node, "value": _tag_value(node["value"])}
    return dict(node)


def resolve(path: str, variables: dict[str, Any]) -> Any:
    """The value at a dotted path, or the _MISSING sentinel; list items by numeric segment."""
    current: Any = variables
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and is_ascii_digits(part) and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _same_kind(a: Any, b: Any) -> bool:
    # bool is an int in Python; True must not equal 1 here.
    return isinstance(a, bool) == isinstance(b, bool)


def _equals(a: Any, b: Any) -> bool:
    return _same_kind(a, b) and bool(a == b)


def _ordered(actual: Any, expected: Any) -> bool:
    nums = (int, float)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    both_num = isinstance(actual, nums) and isinstance(expected, nums)
    return both_num or (isinstance(actual, str) and isinstance(expected, str))


def _contains(actual: Any, value: Any) -> bool:
    if isinstance(actual, list):
        return any(_equals(item, value) for item in actual)
    if isinstance(actual, str):
        return isinstance(value, str) and value in actual
    if isinstance(actual, dict):
        return value in actual
    return False


def _one_of(actual: Any, values: list[Any]) -> bool:
    if isinstance(actual, list):
        return any(_one_of(item, values) for item in actual)
    return any(_equals(actual, v) for v in values)


def _leaf(node: dict[str, Any], variables: dict[str, Any]) -> bool:
    op = node["operator"]
    raw_actual = resolve(node["field"], variables)
    if op == "exists":
        return raw_actual is not _MISSING and raw_actual is not None
    if op == "not_exists":
        return raw_actual is _MISSING or raw_actual is None
    actual: Any = None if raw_actual is _MISSING else raw_actual
    value: Any = node.get("value")
    result: bool
    if op == "eq":
        result = _equals(actual, value)
    elif op == "ne":
        result = not _equals(actual, value)
    elif op in ("gt", "gte", "lt", "lte"):
        if not _ordered(actual, value):
            return False
        result = {
            "gt": actual > value,
            "gte": actual >= value,
            "lt": actual < value,
            "lte": actual <= value,
        }[op]
    elif op == "in":
        result = _one_of(actual, value)
    elif op == "not_in":
        result = not _one_of(actual, value)
    elif op == "contains":
        result = _contains(actual, value)
    elif op == "not_contains":
        result = not _contains(actual, value)
    elif op == "starts_with":
        result = isinstance(actual, str) and actual.startswith(value)
    elif op == "ends_with":
        result = isinstance(actual, str) and actual.endswith(value)
    elif op == "matches":
        if isinstance(actual, bool) or not isinstance(actual, (str, int, float)):
            return False
        text = str(actual)
        # Longer values never match: matching a cut prefix would make "$" anchors lie.
        if len(text) > MAX_MATCH_INPUT_CHARS:
            return False
        result = _regex(value).search(text) is not None
    else:  # validated on save; an unknown operator never matches
        return False
    return bool(result)


def evaluate(conditions: dict[str, Any] | None, variables: dict[str, Any]) -> bool:
    """True when the (already validated) conditions hold; no conditions always hold."""
    if not conditions:
        return True
    if "all" in conditions:
        return all(evaluate(c, variables) for c in conditions["all"])
    if "any" in conditions:
        return any(evaluate(c, variables) for c in conditions["any"])
    if "not" in conditions:
        return not evaluate(conditions["not"], variables)
    return _leaf(conditions, variables)


# How much of a value a "why not" answer keeps: enough to recognise it, never a whole document.
_SEEN_MAX_CHARS = 200


def _seen(raw: Any) -> Any:
    """The value a comparison saw, as JSON, shortened when large (a preview string then)."""
    if raw is _MISSING:
        return None
    if raw is None or isinstance(raw, (bool, int, float)):
        return raw
    if isinstance(raw, str):
        return raw if len(raw) <= _SEEN_MAX_CHARS else raw[:_SEEN_MAX_CHARS] + "…"
    text = msgspec.json.encode(raw).decode()
    if len(text) <= _SEEN_MAX_CHARS:
        return raw
    return text[:_SEEN_MAX_CHARS] + "…"


def first_failure(
    conditions: dict[str, Any] | None, variables: dict[str, Any], path: str = "$.conditions"
) -> dict[str, Any] | None:
    """Why (already validated) conditions do not hold, or None when they do.

    The first comparison that failed: {"path", "field", "operator", "value", "actual",
    "missing"}; under "any" the first alternative's failure (none held), under "not" the
    comparison that held (with "negated": true).
    """
    if not conditions:
        return None
    if "all" in conditions:
        for i, child in enumerate(conditions["all"]):
            failure = first_failure(child, variables, f"{path}.all[{i}]")
            if failure is not None:
                return failure
        return None
    if "any" in conditions:
        children = conditions["any"]
        if any(evaluate(child, variables) for child in children):
            return None
        failure = first_failure(children[0], variables, f"{path}.any[0]")
        if failure is not None:
            failure["alternatives"] = len(children)
        return failure
    if "not" in conditions:
        inner = conditions["not"]
        if not evaluate(inner, variables):
            return None
        held = _first_leaf(inner, f"{path}.not")
        return {**_leaf_report(held[0], held[1], variables), "negated": True}
    if _leaf(conditions, variables):
        return None
    return _leaf_report(conditions, path, variables)


def _first_leaf(node: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The first comparison in a tree (depth is bounded by validation)."""
    for key in ("all", "any"):
        if key in node:
            return _first_leaf(node[key][0], f"{path}.{key}[0]")
    if "not" in node:
        return _first_leaf(node["not"], f"{path}.not")
    return node, path


def _leaf_report(node: dict[str, Any], path: str, variables: dict[str, Any]) -> dict[str, Any]:
    actual = resolve(node["field"], variables)
    report: dict[str, Any] = {
        "path": path,
        "field": node["field"],
        "operator": node["operator"],
        "actual": _seen(actual),
        "missing": actual is _MISSING,
    }
    if "value" in node:
        report["value"] = _seen(node["value"])
    return report


__all__ = [
    "OPERATORS",
    "evaluate",
    "first_failure",
    "normalize_conditions",
    "resolve",
    "validate_conditions",
]
