"""Sandboxed Jinja2 for action config strings: dict keys only, missing names fail, work bounded.

Variables are {"client": {...}, "event": {...}, "workflow": {...}}. Templates can read keys of
those dicts and items of their lists, apply a short list of pure filters, and nothing else: no
attribute or method access on any object, no globals, no function calls.

Every render is bounded in time and memory by construction, not by watching a clock: the
compiled template is rewritten so that each loop iteration, comparison, `~` join, arithmetic
operator, filter and printed value is charged to a per-render budget of MAX_OPERATIONS, and every
operation that builds a value checks the size of what it would build BEFORE building it
(MAX_VALUE_CHARS, MAX_ITEMS, MAX_INT_BITS, MAX_FORMAT_WIDTH, MAX_JSON_INDENT). Text is counted
as it is produced (MAX_PRODUCED_CHARS, captured blocks included) and the output as it streams
(MAX_OUTPUT_CHARS). A template over any limit fails with a LimitError naming that limit.

Printing: a null (or missing) value is an error naming the field unless `| default(...)` gives a
fallback; dicts and lists print as JSON, never as Python reprs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache, partial
from typing import Any, ParamSpec, TypeVar

import jinja2
from jinja2 import StrictUndefined, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment

from app.workflows.template_limits import (
    BINOPS,
    BUDGET,
    CHARS_PER_OPERATION,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_JSON_INDENT,
    MAX_OPERATIONS,
    MAX_OUTPUT_CHARS,
    MAX_PRODUCED_CHARS,
    MAX_VALUE_CHARS,
    TEXT_FILTERS,
    Budget,
    Guard,
    LimitError,
    Null,
    TemplateError,
    as_text,
    as_text_first,
    charged,
    check_binop,
    current_budget,
    filter_join,
    filter_list,
    filter_replace,
    filter_sum,
    filter_tojson,
    finalize,
    guarded_compare,
    guarded_concat,
    guarded_loop,
)

MAX_TEMPLATE_CHARS = 20_000
ROOT_NAMES = frozenset({"client", "event", "workflow"})
# What each root holds (app.clients.service.snapshot and app.workflows.variables, the one builder
# of the engine and the dry run; tests/workflows/test_dryrun_parity.py ties them). Below
# OPEN_FIELDS anything goes: those are the user's own JSON.
VARIABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "client": (
        "id", "name", "email", "phone", "company", "status", "tags", "custom_fields", "owner",
        "external_id", "created_at", "updated_at",
    ),
    "event": ("id", "type", "payload", "depth", "created_at"),
    "workflow": ("id", "name", "version"),
}  # fmt: skip
OPEN_FIELDS = frozenset({"client.custom_fields", "event.payload"})


def unknown_field_problem(path: list[str]) -> str | None:
    """Why a dotted path (["client", "acount_manager", ...]) names a field that cannot exist."""
    if len(path) < 2 or path[0] not in VARIABLE_FIELDS:
        return None
    root, field = path[0], path[1]
    if field in VARIABLE_FIELDS[root]:
        return None
    known = ", ".join(sorted(VARIABLE_FIELDS[root]))
    hint = {
        "client": " (custom fields: client.custom_fields.<name>)",
        "event": " (event data: event.payload.<name>)",
    }.get(root, "")
    return f"'{root}.{field}' is not a {root} field; {root} has: {known}{hint}"


# Pure filters; each is wrapped below so that it is charged and size-checked. Ones that pad to
# any width (center, indent, format, wordwrap) or reach attributes by name are left out.
_ALLOWED_FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "e", "escape", "first", "float", "int",
        "join", "last", "length", "list", "lower", "max", "min", "replace", "reverse", "round",
        "sort", "string", "sum", "title", "tojson", "trim", "truncate", "unique", "upper",
        "urlencode",
    }
)  # fmt: skip


ALLOWED_FILTERS = _ALLOWED_FILTERS


class _Env(SandboxedEnvironment):
    intercepted_binops = frozenset(BINOPS)

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        guarded = Guard().visit(source)
        guarded.set_environment(self)
        generated: str = super()._generate(guarded, name, filename, defer_init=defer_init)
        return generated

    def _lookup(self, obj: Any, key: Any) -> Any:
        if isinstance(obj, jinja2.Undefined):
            # Reading through a missing value names the missing one, not the key after it.
            obj._fail_with_undefined_error()
        if isinstance(obj, Mapping):
            budget = current_budget()
            budget.charge(1)
            known = budget.paths.get(id(obj))
            path = f"{known[1] if known else '?'}.{key}"
            if key not in obj:
                return self.undefined(hint=f"'{path}' is undefined", obj=obj, name=str(key))
            value = obj[key]
            if value is None:
                return Null(
                    hint=f"'{path}' is null (use | default(...) for a fallback)",
                    obj=obj,
                    name=str(key),
                )
            if isinstance(value, Mapping):
                budget.paths[id(value)] = (value, path)
            return value
        if isinstance(obj, (list, tuple, str)) and isinstance(key, (int, slice)):
            try:
                value = obj[key]
            except IndexError:
                return self.undefined(hint=f"index {key} is out of range", obj=obj)
            if isinstance(key, slice):
                current_budget().charge_chars(len(value))
            if value is None:
                return Null(hint=f"item {key} is null", obj=obj)
            return value
        if isinstance(obj, LoopContext) and isinstance(key, str):
            return super().getattr(obj, key)
        raise SecurityError(f"access to {key!r} on {type(obj).__name__} is not allowed")

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self._lookup(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._lookup(obj, argument)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        for side in (left, right):
            if isinstance(side, jinja2.Undefined):
                side._fail_with_undefined_error()
        check_binop(operator_, left, right)
        return BINOPS[operator_](left, right)

    def call(
        __self,
        __context: Any,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # Only the loop helpers (loop.cycle, loop.changed) are ever reachable as callables.
        if isinstance(getattr(__obj, "__self__", None), LoopContext):
            current_budget().charge(1)
            return __obj(*args, **kwargs)
        raise SecurityError("calling functions is not allowed in templates")


def _build_env() -> _Env:
    env = _Env(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=finalize,
    )
    env.globals.clear()
    own: dict[str, Callable[..., Any]] = {
        "replace": filter_replace,
        "join": filter_join,
        "tojson": filter_tojson,
        "string": as_text,
        "sum": filter_sum,
        "list": filter_list,
    }
    filters: dict[str, Callable[..., Any]] = {}
    for name in _ALLOWED_FILTERS:
        func = own.get(name) or env.filters[name]
        if name in TEXT_FILTERS:
            func = as_text_first(func)
        filters[name] = charged(name, func)
    filters["_loop"] = guarded_loop
    filters["_concat"] = guarded_concat
    filters["_compare"] = guarded_compare
    env.filters = filters
    tests: dict[str, Callable[..., Any]] = {
        name: charged(name, func)  # type: ignore[arg-type]
        for name, func in env.tests.items()
    }
    tests["none"] = charged("none", lambda value: value is None or isinstance(value, Null))
    env.tests = tests  # type: ignore[assignment]
    return env


_ENV = _build_env()


@lru_cache(maxsize=512)
def _compile(source: str) -> jinja2.Template:
    try:
        return _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(_syntax_message(exc)) from exc
    except RecursionError as exc:
        raise TemplateError("the template nests too deeply") from exc


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
        if f.name not in _ALLOWED_FILTERS:
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
    except RecursionError:
        return ["the template nests too deeply"]
    problems = _forbidden_nodes(tree)
    try:
        names = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError as exc:  # an unknown filter or test fails compilation
        return list(dict.fromkeys([*problems, _syntax_message(exc)]))
    except RecursionError:
        return ["the template nests too deeply"]
    problems += [
        f"'{name}' is undefined (use client., event. or workflow.)"
        for name in sorted(names - ROOT_NAMES)
    ]
    problems += _unknown_fields(tree, names & ROOT_NAMES)
    return list(dict.fromkeys(problems))


def _unknown_fields(tree: nodes.Template, roots: set[str]) -> list[str]:
    """`{{ client.acount_manager }}`: a field of client/event/workflow that cannot exist.
    Only roots the template reads from the context (not ones it assigns itself) are checked."""
    problems: list[str] = []
    found: Any
    for found in tree.find_all((nodes.Getattr, nodes.Getitem)):
        node = found
        base = node.node
        if not (isinstance(base, nodes.Name) and base.name in roots and base.ctx == "load"):
            continue
        if isinstance(node, nodes.Getattr):
            key: Any = node.attr
        else:
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
        if isinstance(key, str):
            problem = unknown_field_problem([base.name, key])
            if problem:
                problems.append(problem)
    return problems


def check_template(source: str) -> None:
    """Raise TemplateError when a template could never render."""
    problems = template_errors(source)
    if problems:
        raise TemplateError("; ".join(problems))


def _render(template: str, variables: dict[str, Any], budget: Budget) -> str:
    if "{" not in template:
        return template
    compiled = _compile(template)
    for root, value in variables.items():
        if isinstance(value, Mapping):
            budget.paths[id(value)] = (value, root)
    out: list[str] = []
    size = 0
    try:
        for chunk in compiled.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise LimitError(
                    "MAX_OUTPUT_CHARS",
                    MAX_OUTPUT_CHARS,
                    "the rendered text exceeds its maximum length",
                )
            out.append(chunk)
    except UndefinedError as exc:
        raise TemplateError(exc.message or "undefined value") from exc
    except SecurityError as exc:
        raise TemplateError(f"not allowed: {exc}") from exc
    except TemplateError:
        raise
    except RecursionError as exc:
        raise TemplateError("the template nests too deeply") from exc
    except Exception as exc:  # a filter given the wrong type, a division by zero, ...
        raise TemplateError(f"{type(exc).__name__}: {exc}") from exc
    return "".join(out)


def _in_budget(func: Callable[[Budget], Any]) -> Any:
    budget = Budget()
    token = BUDGET.set(budget)
    try:
        return func(budget)
    except TemplateError as exc:
        exc.operations = budget.used
        raise
    finally:
        BUDGET.reset(token)


def render(template: str, variables: dict[str, Any]) -> str:
    """Render one template string; unknown names, null values, sandbox violations and any
    limit raise TemplateError."""
    result: str = _in_budget(lambda budget: _render(template, variables, budget))
    return result


def render_value(value: Any, variables: dict[str, Any]) -> Any:
    """Render every string inside a JSON value (dict keys stay literal), on one budget."""

    def walk(item: Any, budget: Budget) -> Any:
        if isinstance(item, str):
            return _render(item, variables, budget)
        if isinstance(item, dict):
            return {k: walk(v, budget) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, budget) for v in item]
        return item

    return _in_budget(lambda budget: walk(value, budget))


P = ParamSpec("P")
T = TypeVar("T")
# Rendering is CPU work: it runs here, never on the event loop that serves requests and steps.
# The budget bounds each render, so a small pool cannot be held for long by anyone.
RENDER_THREADS = 2
_RENDER_THREADS = ThreadPoolExecutor(
    max_workers=RENDER_THREADS, thread_name_prefix="crmflow-render"
)
# Dry runs (anyone with a key can start one, up to MAX_ACTIONS renders each) render on their own
# thread: a flood of them queues behind itself and never delays the engine's steps.
DRY_RUN_THREADS = 1
_DRY_RUN_THREADS = ThreadPoolExecutor(
    max_workers=DRY_RUN_THREADS, thread_name_prefix="crmflow-dry-run"
)
_POOL: ContextVar[ThreadPoolExecutor] = ContextVar("render_pool", default=_RENDER_THREADS)


@contextmanager
def rendering_for_a_dry_run() -> Iterator[None]:
    """Within this block (and the tasks it awaits), off_loop renders on the dry-run thread."""
    token = _POOL.set(_DRY_RUN_THREADS)
    try:
        yield
    finally:
        _POOL.reset(token)


async def off_loop(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a rendering function on the render threads and wait for it without blocking."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL.get(), partial(func, *args, **kwargs))


__all__ = [
    "ALLOWED_FILTERS",
    "CHARS_PER_OPERATION",
    "MAX_FORMAT_WIDTH",
    "MAX_INT_BITS",
    "MAX_ITEMS",
    "MAX_JSON_INDENT",
    "MAX_OPERATIONS",
    "MAX_OUTPUT_CHARS",
    "MAX_PRODUCED_CHARS",
    "MAX_VALUE_CHARS",
    "OPEN_FIELDS",
    "VARIABLE_FIELDS",
    "LimitError",
    "TemplateError",
    "check_template",
    "off_loop",
    "render",
    "render_value",
    "rendering_for_a_dry_run",
    "template_errors",
    "unknown_field_problem",
]
