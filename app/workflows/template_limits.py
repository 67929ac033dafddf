"""The limits that bound every template render, and the guarded operations that enforce them.

`templating.py` builds the sandbox from these parts: `Guard` rewrites each compiled template so
that loops, comparisons, `~` and printed values go through the functions below; `check_binop`
vets arithmetic; `charged` wraps every filter and test. Each operation is charged to the render's
`Budget` and checks the size of what it would build BEFORE building it, so a template can neither
run long nor allocate much, whatever it is written to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import jinja2
import msgspec
from jinja2 import StrictUndefined, nodes, pass_context
from jinja2.runtime import Context
from jinja2.visitor import NodeTransformer

# One rendered field.
MAX_OUTPUT_CHARS = 100_000
# Any one string or JSON text a template builds (a `~` join, a replace, a printed dict ...).
MAX_VALUE_CHARS = 100_000
# Any one list a template builds (`+`, `*`, `| list`).
MAX_ITEMS = 10_000
# All text printed while rendering, including text captured by {% set %}...{% endset %} blocks.
MAX_PRODUCED_CHARS = 1_000_000
# The work one render may do: loop iterations (weighted by the size of the loop body), operators,
# comparisons, filters, printed values; plus one per CHARS_PER_OPERATION characters built.
MAX_OPERATIONS = 50_000
CHARS_PER_OPERATION = 100
MAX_INT_BITS = 4_096
MAX_FORMAT_WIDTH = 1_000
MAX_JSON_INDENT = 8

# Filters that turn their input into text first: a list or dict becomes JSON (bounded), a null
# value is an error, instead of Jinja's str() (a Python repr of any size, or "None").
TEXT_FILTERS = frozenset(
    {"capitalize", "e", "escape", "lower", "title", "trim", "truncate", "upper"}
)
_CHEAP_FILTERS = frozenset({"count", "d", "default", "first", "last", "length"})


class TemplateError(Exception):
    """A template failed to parse or render; the message says why, for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # The config field being rendered, when known (set by render_fields).
        self.field: str | None = None
        # How much of the budget the render had used when it stopped (0 for parse errors).
        self.operations = 0

    def step_message(self) -> str:
        """How a step (and the dry run of it) reports this error."""
        where = f" in {self.field}" if self.field else ""
        return f"template error{where}: {self.message}"


class LimitError(TemplateError):
    """A render went over one of the limits above; `limit` names it."""

    def __init__(self, limit: str, value: int, what: str) -> None:
        super().__init__(f"template limit exceeded: {what} ({limit} = {value:,})")
        self.limit = limit


class Budget:
    """What one render has used; lives in a ContextVar for the duration of the render."""

    __slots__ = ("paths", "produced", "used")

    def __init__(self) -> None:
        self.used = 0
        self.produced = 0
        # id(dict) -> (dict, dotted path): lets a missing key name its full path without
        # copying dicts on every lookup. The dict is held so its id cannot be reused.
        self.paths: dict[int, tuple[Any, str]] = {}

    def charge(self, units: int) -> None:
        # Refused before it is spent: `used` never passes MAX_OPERATIONS.
        if self.used + units > MAX_OPERATIONS:
            raise LimitError(
                "MAX_OPERATIONS", MAX_OPERATIONS, "the template does too much work when rendered"
            )
        self.used += units

    def charge_chars(self, chars: int) -> None:
        self.charge(1 + chars // CHARS_PER_OPERATION)


BUDGET: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def current_budget() -> Budget:
    budget = BUDGET.get()
    if budget is None:
        # Only reachable when a guarded filter is evaluated outside render(); refuse rather
        # than run unbounded.
        raise LimitError("MAX_OPERATIONS", MAX_OPERATIONS, "rendering outside a budget")
    return budget


def check_chars(chars: int, what: str) -> None:
    if chars > MAX_VALUE_CHARS:
        raise LimitError("MAX_VALUE_CHARS", MAX_VALUE_CHARS, f"{what} would be {chars:,} long")


def _check_items(items: int, what: str) -> None:
    if items > MAX_ITEMS:
        raise LimitError("MAX_ITEMS", MAX_ITEMS, f"{what} would hold {items:,} items")


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise LimitError("MAX_INT_BITS", MAX_INT_BITS, f"a number would need {bits:,} bits")


class Null(StrictUndefined):
    """A key whose value is null: false in `if`, equal to none, replaced by `default`, and an
    error naming the field when printed or used as text."""

    __slots__ = ()

    def __bool__(self) -> bool:  # type: ignore[override]
        return False

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return other is None or isinstance(other, Null)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(None)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _weight(value: Any) -> int:
    """Operations a comparison or copy of `value` may cost: nodes + characters, charged as
    counted so that walking a huge shared structure stops at the budget."""
    budget = current_budget()
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        units = 1
        if isinstance(item, str):
            units += len(item) // CHARS_PER_OPERATION
        elif isinstance(item, Mapping):
            stack.extend(item.values())
            units += len(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
            units += len(item)
        budget.charge(units)
        total += units
    return total


def _json_size(value: Any, indent: int) -> int:
    """An upper bound (escapes aside) of the JSON text of `value`, refused past MAX_VALUE_CHARS
    before any of it is built (shared references can make a tiny template describe a huge JSON)."""
    budget = current_budget()
    size = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, Mapping):
            size += 2 + len(item) * (indent * (depth + 1) + 4)
            for key, child in item.items():
                size += len(str(key)) if isinstance(key, str) else 24
                stack.append((child, depth + 1))
        elif isinstance(item, (list, tuple)):
            size += 2 + len(item) * (indent * (depth + 1) + 2)
            stack.extend((child, depth + 1) for child in item)
        elif _is_int(item):
            size += item.bit_length() // 3 + 2
        else:
            size += 24
        budget.charge(1)
        check_chars(size, "a JSON text")
    budget.charge_chars(size)
    return size


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Null):
        return None
    if isinstance(obj, jinja2.Undefined):
        obj._fail_with_undefined_error()
    raise TypeError(f"{type(obj).__name__} cannot be written as JSON")


def _to_json(value: Any, indent: int | None = None) -> str:
    """JSON text: `{"a": [1, 2]}` (spaces after , and :), or indented when asked."""
    if indent is not None and (not _is_int(indent) or not 0 <= indent <= MAX_JSON_INDENT):
        raise LimitError(
            "MAX_JSON_INDENT", MAX_JSON_INDENT, f"tojson indent must be 0..{MAX_JSON_INDENT}"
        )
    _json_size(value, indent or 0)
    try:
        compact = msgspec.json.encode(value, enc_hook=_json_default)
    except TypeError as exc:
        raise TemplateError(f"cannot write as JSON: {exc}") from exc
    text = msgspec.json.format(compact, indent=indent or 0).decode()
    # Escapes can make the real text longer than the estimate.
    check_chars(len(text), "a JSON text")
    return text


def as_text(value: Any) -> str:
    """What a value prints as: strings as they are, lists and dicts as JSON, null is an error."""
    if isinstance(value, str):
        return value
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if value is None:
        raise TemplateError("a value is null (use | default(...) to print something else)")
    if isinstance(value, (Mapping, list, tuple)):
        return _to_json(value)
    if _is_int(value):
        _check_bits(value.bit_length())
    return str(value)


@pass_context
def finalize(context: Context, value: Any) -> str:
    text = as_text(value)
    budget = current_budget()
    budget.produced += len(text)
    if budget.produced > MAX_PRODUCED_CHARS:
        raise LimitError(
            "MAX_PRODUCED_CHARS", MAX_PRODUCED_CHARS, "the template prints too much text"
        )
    budget.charge_chars(len(text))
    return text


@pass_context
def guarded_loop(context: Context, iterable: Any, weight: int) -> Iterator[Any]:
    """Every `for` iterates through this: each item costs the size of the loop body."""
    budget = current_budget()
    budget.charge(1)
    for item in iterable:
        budget.charge(weight)
        yield item


@pass_context
def guarded_concat(context: Context, parts: list[Any]) -> str:
    """`a ~ b`: each part as text (see as_text), the total checked before joining."""
    texts: list[str] = []
    size = 0
    for part in parts:
        text = as_text(part)
        size += len(text)
        check_chars(size, "a joined string (~)")
        texts.append(text)
    current_budget().charge_chars(size)
    return "".join(texts)


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gteq": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lteq": lambda a, b: a <= b,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


@pass_context
def guarded_compare(context: Context, left: Any, *pairs: Any) -> bool:
    """`a == b`, `a in b`, `a < b < c`: charged by the size of what is compared."""
    for index in range(0, len(pairs), 2):
        op, right = pairs[index], pairs[index + 1]
        _weight(left)
        _weight(right)
        if not _COMPARE[op](left, right):
            return False
        left = right
    return True


_FORMAT_SPEC = re.compile(
    r"%(?:\([^)]*\))?[#0 +\-]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?[hlL]?(?P<conv>.?)"
)


def _check_format(template: str, args: Any) -> None:
    """`'%5.2f' % x`: widths and precisions are bounded, and so is the whole result."""
    size = len(template)
    for spec in _FORMAT_SPEC.finditer(template):
        for part in ("width", "precision"):
            text = spec.group(part)
            if text == "*":
                raise LimitError(
                    "MAX_FORMAT_WIDTH", MAX_FORMAT_WIDTH, "a * width or precision in % formatting"
                )
            if text and int(text) > MAX_FORMAT_WIDTH:
                raise LimitError(
                    "MAX_FORMAT_WIDTH",
                    MAX_FORMAT_WIDTH,
                    f"a width or precision of {text} in % formatting",
                )
            if text:
                size += int(text)
    values = args if isinstance(args, tuple) else (args,)
    for value in values:
        size += _json_size(value, 0) if isinstance(value, (Mapping, list, tuple, str)) else 0
        if _is_int(value):
            _check_bits(value.bit_length())
    check_chars(size, "a % formatted string")


def check_binop(operator_: str, left: Any, right: Any) -> None:
    """Refuse, before computing it, any operation whose result would be over a limit."""
    budget = current_budget()
    budget.charge(1)
    seq = (str, list, tuple)
    if operator_ == "+" and isinstance(left, seq) and isinstance(right, seq):
        size = len(left) + len(right)
        if isinstance(left, str):
            check_chars(size, "a string built with +")
        else:
            _check_items(size, "a list built with +")
        budget.charge_chars(size)
    elif operator_ == "*" and (isinstance(left, seq) or isinstance(right, seq)):
        items, times = (left, right) if isinstance(left, seq) else (right, left)
        if not _is_int(times):
            return  # Python raises the TypeError
        size = len(items) * max(times, 0)
        if isinstance(items, str):
            check_chars(size, "a repeated string")
        else:
            _check_items(size, "a repeated list")
        budget.charge_chars(size)
    elif operator_ == "*" and _is_int(left) and _is_int(right):
        _check_bits(left.bit_length() + right.bit_length())
    elif operator_ == "**" and _is_int(left) and _is_int(right) and right > 0:
        if abs(left) > 1:
            _check_bits(left.bit_length() * right if right <= MAX_INT_BITS else right)
    elif operator_ == "**" and isinstance(left, float) and _is_int(right):
        # float ** int is computed on floats (fast, overflows to an error).
        return
    elif operator_ == "%" and isinstance(left, str):
        _check_format(left, right)
    elif operator_ in ("+", "-") and _is_int(left) and _is_int(right):
        _check_bits(max(left.bit_length(), right.bit_length()) + 1)


BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
    "**": lambda a, b: a**b,
}


def _body_weight(node: nodes.For) -> int:
    body = [*node.body, *([node.test] if node.test is not None else [])]
    return 1 + sum(1 for stmt in body for _ in stmt.find_all(nodes.Node)) + len(body)


class Guard(NodeTransformer):
    """Rewrites a parsed template so that every unbounded construct goes through a check."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(
            node.iter, "_loop", [nodes.Const(_body_weight(node))], [], None, None,
            lineno=node.lineno,
        )  # fmt: skip
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, "_concat", [], [], None, None, lineno=node.lineno)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        args: list[nodes.Expr] = []
        for operand in node.ops:
            args += [nodes.Const(operand.op, lineno=node.lineno), operand.expr]
        return nodes.Filter(node.expr, "_compare", args, [], None, None, lineno=node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        # Literal text goes through finalize too, so text captured in a block is counted.
        node.nodes = [
            nodes.Const(child.data, lineno=child.lineno)
            if isinstance(child, nodes.TemplateData)
            else child
            for child in node.nodes
        ]
        return node


_EvalCtx = nodes.EvalContext


def charged(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A Jinja filter or test behind the budget: charged by input size, output size-checked."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        # Jinja passes eval_ctx/environment first to some filters; the value is the first
        # argument that is neither.
        budget = current_budget()
        values = [a for a in args if not isinstance(a, (jinja2.Environment, _EvalCtx))]
        if name in _CHEAP_FILTERS:
            budget.charge(1)
        else:
            for value in values[:2]:
                _weight(value)
        result = func(*args, **kwargs)
        if isinstance(result, str):
            check_chars(len(result), f"the result of {name}")
            budget.charge_chars(len(result))
        elif isinstance(result, list):
            _check_items(len(result), f"the result of {name}")
        elif _is_int(result):
            _check_bits(result.bit_length())
        return result

    guarded.__name__ = getattr(func, "__name__", name)
    # Keep Jinja's pass_context / pass_eval_context / pass_environment marker.
    if hasattr(func, "jinja_pass_arg"):
        guarded.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    return guarded


def as_text_first(func: Callable[..., Any]) -> Callable[..., Any]:
    """The wrapped filter gets its first (value) argument as text (see as_text)."""
    pass_arg = getattr(func, "jinja_pass_arg", None)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        index = 1 if pass_arg is not None else 0
        converted = [*args[:index], as_text(args[index]), *args[index + 1 :]]
        return func(*converted, **kwargs)

    if pass_arg is not None:
        wrapper.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return wrapper


def filter_replace(value: Any, old: Any, new: Any, count: Any = None) -> str:
    text, old_text, new_text = as_text(value), as_text(old), as_text(new)
    hits = len(text) + 1 if old_text == "" else text.count(old_text)
    if _is_int(count) and count >= 0:
        hits = min(hits, count)
    check_chars(len(text) + hits * (len(new_text) - len(old_text)), "the result of replace")
    return text.replace(old_text, new_text, -1 if count is None else count)


def filter_join(value: Any, d: Any = "", attribute: Any = None) -> str:
    separator = as_text(d)
    texts: list[str] = []
    size = 0
    for index, item in enumerate(value):
        if attribute is not None:
            item = _item(item, attribute)
        text = as_text(item)
        size += len(text) + (len(separator) if index else 0)
        check_chars(size, "the result of join")
        texts.append(text)
    return separator.join(texts)


def filter_tojson(value: Any, indent: Any = None) -> str:
    return _to_json(value, indent)


def filter_sum(iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    total = start
    for item in iterable:
        if attribute is not None:
            item = _item(item, attribute)
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise TemplateError("sum adds numbers only")
        check_binop("+", total, item)
        total += item
    return total


def filter_list(value: Any) -> list[Any]:
    if isinstance(value, (str, list, tuple, Mapping)):
        _check_items(len(value), "the result of list")
    items: list[Any] = []
    for item in value:
        items.append(item)
        _check_items(len(items), "the result of list")
    return items


def _item(obj: Any, key: Any) -> Any:
    """`attribute=` of join and sum: a dict key, nothing else."""
    if isinstance(obj, Mapping) and key in obj:
        return obj[key]
    raise TemplateError(f"no key {key!r} in an item")
