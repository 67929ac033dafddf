"""Which steps of a definition cannot run without a client (checked before a MANUAL trigger).

A step needs a client when it acts on one (UPDATE_CLIENT, ADD_TAG, REMOVE_TAG, ADD_NOTE) or when
one of its templates reads `client` unguarded: without a client the variables hold `client: {}`,
so `{{ client.email }}` fails the step at run time. A read under `| default(...)` or an
`is defined` / `is none` test (or inside the branch such a test guards) is the author saying
the value is optional, and is not counted.
"""

from __future__ import annotations

from typing import Any

import jinja2
from jinja2 import nodes

from app.core.errors import FieldError

CLIENT_STEP_TYPES = frozenset({"UPDATE_CLIENT", "ADD_TAG", "REMOVE_TAG", "ADD_NOTE"})
_GUARD_FILTERS = frozenset({"default", "d"})
_GUARD_TESTS = frozenset({"defined", "undefined", "none"})
# Parsing only (never rendering): the plain environment reads the same syntax as the sandbox.
_PARSER = jinja2.Environment(autoescape=False)  # noqa: S701 - parsed, never rendered


def _subtree_ids(node: nodes.Node) -> set[int]:
    return {id(node), *(id(child) for child in node.find_all(nodes.Node))}


def reads_client_unguarded(source: str) -> bool:
    """Does the template read `client` anywhere outside a default/defined guard?"""
    if "client" not in source:
        return False
    try:
        tree = _PARSER.parse(source)
    except jinja2.TemplateSyntaxError:
        # Saved definitions were validated; anything unparsable here is not ours to judge.
        return False
    guarded: set[int] = set()
    for flt in tree.find_all(nodes.Filter):
        if flt.name in _GUARD_FILTERS and flt.node is not None:
            guarded |= _subtree_ids(flt.node)
    for test in tree.find_all(nodes.Test):
        if test.name in _GUARD_TESTS:
            guarded |= _subtree_ids(test.node)
    # `{% if client.x is defined %}…{% endif %}` / `a if client.x is defined else b`: the
    # branch runs only when the author's guard let it.
    branches: list[nodes.If | nodes.CondExpr] = [
        *tree.find_all(nodes.If),
        *tree.find_all(nodes.CondExpr),
    ]
    for branch in branches:
        condition: nodes.Node | None = branch.test
        if condition is None:
            continue
        tests = [condition, *condition.find_all(nodes.Test)]
        if any(isinstance(t, nodes.Test) and t.name in _GUARD_TESTS for t in tests):
            guarded |= _subtree_ids(branch)
    return any(
        name.name == "client" and name.ctx == "load" and id(name) not in guarded
        for name in tree.find_all(nodes.Name)
    )


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every string inside a JSON value, with its path."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            found.append((where, node))
        elif isinstance(node, dict):
            stack.extend((v, f"{where}.{k}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))
    return sorted(found)


def client_requirements(actions: list[dict[str, Any]]) -> list[str]:
    """Why the steps need a client: one reason per step or template that does (empty: none)."""
    reasons: list[str] = []
    for index, action in enumerate(actions):
        kind = str(action.get("type", ""))
        if kind in CLIENT_STEP_TYPES:
            reasons.append(f"$.actions[{index}] ({kind}) acts on the client")
            continue
        where = f"$.actions[{index}].config"
        reasons += [
            f"{path} ({kind}) reads client without a default"
            for path, text in _strings(action.get("config", {}), where)
            if reads_client_unguarded(text)
        ]
    return reasons


def missing_client_errors(actions: list[dict[str, Any]]) -> list[FieldError]:
    """FieldErrors on $.client_id when the workflow's steps cannot run without one."""
    return [
        FieldError("$.client_id", f"is required: {reason}")
        for reason in client_requirements(actions)
    ]
