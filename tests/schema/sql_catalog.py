"""Every raw SQL statement in app/, collected from the source so a test can prepare each one.

The collector reads each module's syntax tree and finds the calls that send SQL
(`fetch`, `fetchrow`, `fetchval`, `execute`, `executemany`, and the listing toolkit's
`keyset_rows` with the `where.add(...)` clauses of the same function). A statement's text is
resolved from literals, f-strings and module constants (the module is imported and the pieces
evaluated in its namespace); `where.param(...)` becomes a `$n` placeholder; both arms of a
conditional piece are kept. Pieces only known at run time (an UPDATE's SET list) are taken from
`DYNAMIC`, keyed by module, function and the piece's source text, and listed there in full; a call
the collector can neither resolve nor find in `DYNAMIC` is reported, so no new statement escapes.
"""

# ruff: noqa: S608 - builds SQL text to prepare, never to run with values.

from __future__ import annotations

import ast
import contextlib
import importlib
import itertools
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from app.core.config import PROJECT_ROOT
from app.core.listing import CreatedSort
from tables.enums import ExecutionStatus

SQL_CALLS = frozenset({"fetch", "fetchrow", "fetchval", "execute", "executemany"})

# Modules whose SQL is not about the app's tables: the wrappers themselves and the schema checker
# (catalog queries and DDL on throw-away databases, names quoted from the catalog at run time).
SKIP_MODULES = frozenset({"app/core/sql.py", "app/core/listing.py", "app/core/uow.py"})
SKIP_PREFIXES = ("app/schema_check/",)

_PARAM = "\x00PARAM\x00"


def _sets(*columns: str) -> str:
    """A SET list over columns, each given a parameter (`custom_fields` as jsonb, as written)."""
    cast = {"custom_fields": "::jsonb"}
    return ", ".join(f"{c} = {_PARAM}{cast.get(c, '')}" for c in columns)


# (module, function, source of the run-time piece) -> the texts it can take.
DYNAMIC: dict[tuple[str, str, str], list[str]] = {
    ("app/clients/service.py", "_update_row", "', '.join(sets)"): [
        _sets("name", "email", "phone", "company", "status", "owner", "tags", "custom_fields")
    ],
    ("app/users/service.py", "update_user", "sets"): [_sets("name", "role", "is_active")],
    # The status filter is a literal (a closed enum: see filter_where), not a parameter.
    ("app/executions/service.py", "filter_where", "ExecutionStatus(f.status).value"): [
        status.value for status in ExecutionStatus
    ],
    ("app/tasks/service.py", "update_task", "sets"): [
        _sets("title", "description", "status", "priority", "due_at", "assignee", "client")
    ],
}


# The DYNAMIC entries the last collect() met (an entry nothing uses any more is stale).
USED_DYNAMIC: set[tuple[str, str, str]] = set()


@dataclass(frozen=True)
class Statement:
    """One SQL text as it can be sent, and where it is written."""

    where: str  # "app/notes/service.py:71 (add_note)"
    sql: str


@dataclass(frozen=True)
class Unresolved:
    where: str
    piece: str


class _Context:
    def __init__(
        self, path: str, module: Any, function: ast.AST | None, tree: ast.Module | None = None
    ) -> None:
        self.path = path
        self.module = module
        self.tree = tree
        self.function = function
        self.function_name = getattr(function, "name", "<module>")
        # name -> value fixed by an enclosing `if name is CONSTANT:` around the call.
        self.fixed: dict[str, Any] = {}

    def fix_branch(self, call: ast.AST) -> None:
        """Bind names the call's enclosing `if x is CONSTANT:` blocks decide."""
        if self.function is None:
            return
        parents = {
            child: parent
            for parent in ast.walk(self.function)
            for child in ast.iter_child_nodes(parent)
        }
        node: ast.AST = call
        while node in parents:
            parent = parents[node]
            test = getattr(parent, "test", None)
            if (
                isinstance(parent, ast.If)
                and node in parent.body
                and isinstance(test, ast.Compare)
                and isinstance(test.left, ast.Name)
                and len(test.ops) == 1
                and isinstance(test.ops[0], ast.Is)
            ):
                # Not a module constant: no binding.
                with contextlib.suppress(Exception):
                    self.fixed[test.left.id] = _eval(test.comparators[0], self, vars(self.module))
            node = parent

    def assignments(self, name: str) -> list[ast.expr]:
        """Values assigned to a local name in the enclosing function (tuple targets unpacked)."""
        found: list[ast.expr] = []
        if self.function is None:
            return found
        for node in ast.walk(self.function):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    found.append(node.value)
                elif (
                    isinstance(target, ast.Tuple)
                    and isinstance(node.value, ast.Tuple)
                    and len(target.elts) == len(node.value.elts)
                ):
                    for elt, value in zip(target.elts, node.value.elts, strict=True):
                        if isinstance(elt, ast.Name) and elt.id == name:
                            found.append(value)
        return found


class _Unresolvable(Exception):
    pass


def _is_param_call(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "param"
    )


def _variants(node: ast.expr, ctx: _Context, depth: int = 0) -> list[str]:
    """Every text node can take (a short list), or _Unresolvable naming the piece."""
    if depth > 8:
        raise _Unresolvable(ast.unparse(node))
    key = (ctx.path, ctx.function_name, ast.unparse(node))
    if key in DYNAMIC:
        USED_DYNAMIC.add(key)
        return DYNAMIC[key]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if _is_param_call(node):
        return [_PARAM]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "int":
        return ["1"]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "sql"
        and not node.args
    ):  # a Where's text: every clause it can hold
        return [" AND ".join(_where_clauses(node.func.value, ctx)) or "TRUE"]
    if isinstance(node, ast.IfExp):
        return _variants(node.body, ctx, depth + 1) + _variants(node.orelse, ctx, depth + 1)
    if isinstance(node, ast.JoinedStr):
        try:  # the whole f-string at once: one binding of its names for every piece
            return [str(v) for v in _evaluate(node, ctx)]
        except Exception:  # noqa: S110 - some piece is a run-time value: resolve piece by piece
            pass
        parts: list[list[str]] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                parts.append(_variants(value.value, ctx, depth + 1))
            else:
                parts.append(_variants(value, ctx, depth + 1))
        return ["".join(combo) for combo in itertools.islice(itertools.product(*parts), 64)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _variants(node.left, ctx, depth + 1)
        right = _variants(node.right, ctx, depth + 1)
        return [a + b for a, b in itertools.product(left, right)]
    try:
        values = _evaluate(node, ctx)
    except NameError:
        if isinstance(node, ast.Name):
            assigned = ctx.assignments(node.id)
            if assigned:
                return [v for a in assigned for v in _variants(a, ctx, depth + 1)]
        raise _Unresolvable(ast.unparse(node)) from None
    except Exception as exc:
        raise _Unresolvable(ast.unparse(node)) from exc
    texts = []
    for value in values:
        if isinstance(value, Enum):
            value = value.value
        if not isinstance(value, (str, int)):
            raise _Unresolvable(ast.unparse(node))
        texts.append(str(value))
    return texts


def _evaluate(node: ast.expr, ctx: _Context) -> list[Any]:
    """node's values in the module's namespace, binding the function's free names: a local
    assigned exactly once takes that value; a parameter annotated with a class takes, in turn,
    each instance of it the module declares (`kind: Kind` -> EXECUTIONS, EVENTS, ...)."""
    namespace = dict(vars(ctx.module))
    local_exprs: dict[str, ast.expr] = {}
    choices: dict[str, list[Any]] = {}
    pending = _free_names(node)
    while pending:
        name = pending.pop()
        if name in namespace or name in local_exprs or name in choices:
            continue
        if name in ctx.fixed:
            choices[name] = [ctx.fixed[name]]
            continue
        assigned = ctx.assignments(name)
        if len(assigned) == 1 and not _is_param_call(assigned[0]):
            local_exprs[name] = assigned[0]
            pending |= _free_names(assigned[0])
        elif instances := _declared_instances(name, ctx):
            choices[name] = instances
    values = []
    for combo in itertools.islice(itertools.product(*choices.values()), 64):
        scope = {**namespace, **dict(zip(choices, combo, strict=True))}
        todo = dict(local_exprs)
        while todo:  # locals in dependency order: evaluate what can be, until nothing is left
            done = {}
            for name, expr in todo.items():
                try:
                    done[name] = _eval(expr, ctx, scope)
                except NameError:
                    continue
            if not done:
                break
            scope.update(done)
            for name in done:
                del todo[name]
        values.append(_eval(node, ctx, scope))
    return values


def _free_names(node: ast.expr) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _eval(node: ast.expr, ctx: _Context, scope: dict[str, Any]) -> Any:
    return eval(compile(ast.Expression(node), ctx.path, "eval"), scope)  # noqa: S307


def _declared_instances(name: str, ctx: _Context) -> list[Any]:
    """The module's constants of the class the function's parameter `name` is annotated with."""
    function = ctx.function
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    for arg in [*function.args.args, *function.args.kwonlyargs]:
        if arg.arg == name and arg.annotation is not None:
            try:
                cls = eval(  # noqa: S307
                    compile(ast.Expression(arg.annotation), ctx.path, "eval"), vars(ctx.module)
                )
            except Exception:
                return []
            if cls is int or cls == "int":  # a LIMIT or a batch size
                return [1]
            if isinstance(cls, type) and cls.__module__ == ctx.module.__name__:
                return [v for v in vars(ctx.module).values() if isinstance(v, cls)]
    return []


def _fill(template: str) -> str:
    """A defer_insert template with `{i}` as `$i+1` (what flush_deferred does)."""
    count = len({f for _, f, _, _ in string.Formatter().parse(template) if f is not None})
    return template.format(*(f"${i + 1}" for i in range(count)))


def _number(sql: str) -> str:
    """Turn the collector's parameter markers into $n after the statement's own highest $n."""
    highest = max((int(n) for n in re.findall(r"\$(\d+)", sql)), default=0)
    counter = itertools.count(highest + 1)
    return re.sub(re.escape(_PARAM), lambda _: f"${next(counter)}", sql)


def _is_queue_sql(node: ast.expr, ctx: _Context) -> bool:
    """psycopg `SQL(...).format(...)`: SAQ's own queue tables, which tables/ does not declare."""
    if isinstance(node, ast.Name) and len(ctx.assignments(node.id)) == 1:
        node = ctx.assignments(node.id)[0]
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        node = node.func.value
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "SQL"


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _functions(tree: ast.Module) -> Iterator[tuple[ast.AST | None, ast.AST]]:
    """(innermost enclosing function or None, node) for every node."""

    def visit(node: ast.AST, function: ast.AST | None) -> Iterator[tuple[ast.AST | None, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            inner = (
                child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            )
            yield inner, child
            yield from visit(child, inner)

    yield from visit(tree, None)


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _listing_statements(call: ast.Call, ctx: _Context) -> list[str]:
    """The fullest query a keyset_rows call can send: every filter, the cursor, each sort."""
    select, from_, alias = (_keyword(call, k) for k in ("select", "from_", "alias"))
    if select is None or from_ is None or alias is None:
        raise _Unresolvable(ast.unparse(call))
    where_arg = _keyword(call, "where")
    clauses = _where_clauses(where_arg, ctx) if where_arg is not None else []
    (alias_text,) = _variants(alias, ctx)
    id_text = f"{alias_text}.id"
    sorts = _keyword(call, "sorts")
    enum = CreatedSort if sorts is None else _eval(sorts, ctx, vars(ctx.module))
    columns = {str(member.value).lstrip("-") for member in enum}
    statements = []
    for select_text, from_text in itertools.product(_variants(select, ctx), _variants(from_, ctx)):
        for column in sorted(columns):
            where = " AND ".join(
                [*clauses, f"({alias_text}.{column}, {id_text}) < ({_PARAM}, {_PARAM})"]
            )
            statements.append(
                f"SELECT {select_text} FROM {from_text} WHERE {where} "
                f"ORDER BY {alias_text}.{column} DESC, {id_text} DESC LIMIT 2"
            )
    return statements


def _where_clauses(node: ast.expr, ctx: _Context) -> list[str]:
    """Every clause a Where can hold: `.add(...)` in the function that builds it (this one, or
    the module's builder function it comes from, e.g. `filter_where(...)`)."""
    extra: list[str] = []
    if isinstance(node, ast.Name):
        assigned = ctx.assignments(node.id)
        if len(assigned) == 1 and isinstance(assigned[0], ast.Call):
            # Built elsewhere, then narrowed here: `where = filter_where(...); where.add(...)`.
            assert ctx.function is not None
            extra = [
                text
                for call in ast.walk(ctx.function)
                if isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == node.id
                and call.args
                for text in _helper_clauses(call, ctx)
            ]
            node = assigned[0]
    builder_ctx = ctx
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and ctx.tree is not None:
        for definition in ctx.tree.body:
            if (
                isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef))
                and definition.name == node.func.id
            ):
                builder_ctx = _Context(ctx.path, ctx.module, definition, ctx.tree)
    assert builder_ctx.function is not None
    clauses: list[str] = []
    for call in ast.walk(builder_ctx.function):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.args:
            clauses.extend(_helper_clauses(call, builder_ctx))
    return clauses if builder_ctx is ctx else clauses + extra


def _helper_clauses(call: ast.Call, ctx: _Context) -> list[str]:
    """The clauses one call on a Where adds: `.add(text)`, `.equal(column, value)`,
    `.created_between(alias, after, before)` (see app/core/listing.py)."""
    assert isinstance(call.func, ast.Attribute)
    method = call.func.attr
    if method == "add":
        return _variants(call.args[0], ctx)
    if method == "equal":
        return [f"{column} = {_PARAM}" for column in _variants(call.args[0], ctx)]
    if method == "created_between":
        return [
            f"{alias}.created_at {op} {_PARAM}"
            for alias in _variants(call.args[0], ctx)
            for op in (">=", "<")
        ]
    return []


def collect(root: Path = PROJECT_ROOT) -> tuple[list[Statement], list[Unresolved]]:
    """Every statement in app/ (resolved texts) and every call that could not be resolved."""
    statements: list[Statement] = []
    unresolved: list[Unresolved] = []
    USED_DYNAMIC.clear()
    for file in sorted((root / "app").rglob("*.py")):
        path = file.relative_to(root).as_posix()
        if path in SKIP_MODULES or path.startswith(SKIP_PREFIXES):
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        module: Any = None
        for function, node in _functions(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            if name not in SQL_CALLS and name not in ("keyset_rows", "defer_insert"):
                continue
            if name in SQL_CALLS and not node.args:
                continue
            if module is None:
                module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
            ctx = _Context(path, module, function, tree)
            ctx.fix_branch(node)
            if name in SQL_CALLS and _is_queue_sql(node.args[0], ctx):
                continue
            where = f"{path}:{node.lineno} ({ctx.function_name})"
            try:
                if name == "keyset_rows":
                    texts = _listing_statements(node, ctx)
                elif name == "defer_insert":  # a template whose {i} are its array parameters
                    texts = [_fill(t) for t in _variants(node.args[0], ctx)]
                else:
                    texts = _variants(node.args[0], ctx)
            except _Unresolvable as exc:
                unresolved.append(Unresolved(where, str(exc)))
                continue
            statements.extend(Statement(where, _number(text)) for text in texts)
    return statements, unresolved
