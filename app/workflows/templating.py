"""Sandboxed Jinja2 for action config strings: dict keys only, missing names fail, output bounded.

Variables are {"client": {...}, "event": {...}, "workflow": {...}}. Templates can read keys of
those dicts and items of their lists, apply a short list of pure filters, and nothing else: no
attribute or method access on any object, no globals, no string multiplication bombs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import StrictUndefined, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment

MAX_OUTPUT_CHARS = 100_000
MAX_TEMPLATE_CHARS = 20_000
ROOT_NAMES = frozenset({"client", "event", "workflow"})

# Pure, bounded filters; ones that can pad/repeat to any size (center, indent, format, wordwrap)
# or reach attributes by name are left out.
_ALLOWED_FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "e", "escape", "first", "float", "int",
        "join", "last", "length", "list", "lower", "max", "min", "replace", "reverse", "round",
        "sort", "string", "sum", "title", "tojson", "trim", "truncate", "unique", "upper",
        "urlencode",
    }
)  # fmt: skip


class TemplateError(Exception):
    """A template failed to parse or render; the message says why, for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _PathDict(dict[str, Any]):
    """A dict that remembers its dotted path so a missing key names itself in the error."""

    __slots__ = ("path",)

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        super().__init__(data)
        self.path = path


def _wrap(value: Any, path: str) -> Any:
    if isinstance(value, Mapping) and not isinstance(value, _PathDict):
        return _PathDict(value, path)
    return value


class _Env(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def _lookup(self, obj: Any, key: Any) -> Any:
        if isinstance(obj, jinja2.Undefined):
            # Reading through a missing value names the missing one, not the key after it.
            obj._fail_with_undefined_error()
        if isinstance(obj, Mapping):
            path = f"{getattr(obj, 'path', '?')}.{key}"
            if key in obj:
                return _wrap(obj[key], path)
            return self.undefined(hint=f"'{path}' is undefined", obj=obj, name=str(key))
        if isinstance(obj, (list, tuple, str)) and isinstance(key, (int, slice)):
            try:
                return obj[key]
            except IndexError:
                return self.undefined(hint=f"index {key} is out of range", obj=obj)
        if isinstance(obj, LoopContext) and isinstance(key, str):
            return super().getattr(obj, key)
        raise SecurityError(f"access to {key!r} on {type(obj).__name__} is not allowed")

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self._lookup(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._lookup(obj, argument)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*" and (isinstance(left, (str, list)) or isinstance(right, (str, list))):
            raise SecurityError("repeating strings or lists is not allowed")
        if operator_ == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise SecurityError("exponent too large")
        ops: dict[str, Callable[[Any, Any], Any]] = {"*": operator.mul, "**": operator.pow}
        return ops[operator_](left, right)

    def call(
        __self,
        __context: Any,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # Only the loop helpers (loop.cycle, loop.changed) are ever reachable as callables.
        if isinstance(getattr(__obj, "__self__", None), LoopContext):
            return __obj(*args, **kwargs)
        raise SecurityError("calling functions is not allowed in templates")


def _build_env() -> _Env:
    env = _Env(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in _ALLOWED_FILTERS}
    return env


_ENV = _build_env()


@lru_cache(maxsize=512)
def _compile(source: str) -> jinja2.Template:
    try:
        return _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(_syntax_message(exc)) from exc


def _syntax_message(exc: TemplateSyntaxError) -> str:
    return f"template syntax error on line {exc.lineno}: {exc.message}"


def _forbidden_nodes(tree: nodes.Template) -> list[str]:
    problems: list[str] = []
    for node in tree.find_all((nodes.Call, nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Call):
            problems.append("calling functions is not allowed in templates")
        else:
            key = node.attr if isinstance(node, nodes.Getattr) else getattr(node, "arg", None)
            key = getattr(key, "value", key)
            if isinstance(key, str) and key.startswith("_"):
                problems.append(f"access to {key!r} is not allowed")
    for f in tree.find_all(nodes.Filter):
        if f.name not in _ENV.filters:
            problems.append(f"unknown filter {f.name!r}")
    return problems


def template_errors(source: str) -> list[str]:
    """Problems found when saving a template: syntax, unknown root names, forbidden constructs."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return [f"template longer than {MAX_TEMPLATE_CHARS} characters"]
    if "{" not in source:
        return []
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return [_syntax_message(exc)]
    problems = _forbidden_nodes(tree)
    try:
        names = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError as exc:  # an unknown filter or test fails compilation
        return list(dict.fromkeys([*problems, _syntax_message(exc)]))
    problems += [
        f"'{name}' is undefined (use client., event. or workflow.)"
        for name in sorted(names - ROOT_NAMES)
    ]
    return list(dict.fromkeys(problems))


def check_template(source: str) -> None:
    """Raise TemplateError when a template could never render."""
    problems = template_errors(source)
    if problems:
        raise TemplateError("; ".join(problems))


def render(template: str, variables: dict[str, Any]) -> str:
    """Render one template string; unknown names, sandbox violations, oversize output raise."""
    if "{" not in template:
        return template
    compiled = _compile(template)
    context = {k: _wrap(v, k) for k, v in variables.items()}
    out: list[str] = []
    size = 0
    try:
        for chunk in compiled.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateError(f"rendered output exceeds {MAX_OUTPUT_CHARS} characters")
            out.append(chunk)
    except UndefinedError as exc:
        raise TemplateError(exc.message or "undefined value") from exc
    except SecurityError as exc:
        raise TemplateError(f"not allowed: {exc}") from exc
    except TemplateError:
        raise
    except Exception as exc:  # a filter given the wrong type, a division by zero, ...
        raise TemplateError(f"{type(exc).__name__}: {exc}") from exc
    return "".join(out)


def render_value(value: Any, variables: dict[str, Any]) -> Any:
    """Render every string inside a JSON value (dict keys stay literal)."""
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, dict):
        return {k: render_value(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, variables) for v in value]
    return value


def build_variables(
    *, client: dict[str, Any] | None, event: dict[str, Any], workflow: dict[str, Any]
) -> dict[str, Any]:
    """The template and condition context: {"client", "event", "workflow"}."""
    return {"client": client or {}, "event": event, "workflow": workflow}


__all__ = [
    "MAX_OUTPUT_CHARS",
    "TemplateError",
    "build_variables",
    "check_template",
    "render",
    "render_value",
    "template_errors",
]
