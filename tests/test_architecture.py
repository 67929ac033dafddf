"""The layering rules of README "Architecture", checked over the source so they stay true.

- No controller (nor console page) opens a transaction: the request's unit of work is opened in
  one place (`TransactionMiddleware` on every writing route) and services never commit.
- No controller puts work on the queue: services hand jobs to the unit of work
  (`enqueue_after_commit`), which enqueues them after the commit.
- Audit actions are one pattern: a verb in snake_case (`create`, `add_tag`, `retry_from_start`);
  what it acted on is the entry's resource_type, never a prefix of the action.
"""

from __future__ import annotations

import ast
import re

from app.core.config import PROJECT_ROOT

APP = PROJECT_ROOT / "app"
# Opening a transaction or enqueueing a job, however imported.
TRANSACTION = re.compile(r"\bunit_of_work\s*\(|\.transaction\s*\(|\bCOMMIT\b")
ENQUEUE = re.compile(r"\benqueue\w*\s*\(|\.enqueue\s*\(|\bget_queue\s*\(")


def controllers() -> list[str]:
    """Every HTTP layer: the features' controller.py and the console's page modules."""
    files = sorted(APP.rglob("controller.py"))
    assert len(files) >= 10  # every feature's HTTP layer is still called controller.py
    pages = [f for f in sorted((APP / "dashboard").glob("*.py")) if f.name != "__init__.py"]
    return [str(f.relative_to(PROJECT_ROOT)) for f in [*files, *pages]]


def offending(pattern: re.Pattern[str]) -> list[str]:
    found = []
    for name in controllers():
        for number, line in enumerate((PROJECT_ROOT / name).read_text().splitlines(), 1):
            if pattern.search(line.split("#", 1)[0]):
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_no_controller_opens_a_transaction() -> None:
    assert offending(TRANSACTION) == []


def test_no_controller_enqueues_a_job() -> None:
    assert offending(ENQUEUE) == []


def test_the_patterns_would_catch_a_violation() -> None:
    assert TRANSACTION.search("        async with unit_of_work():")
    assert ENQUEUE.search("        await enqueue_delivery(email.id)")
    assert ENQUEUE.search("        await enqueue_run(execution.id, key=key)")
    assert not AUDIT_ACTION.match("workflow.create")
    assert not AUDIT_ACTION.match("emailSent")


AUDIT_ACTION = re.compile(r"^[a-z]+(_[a-z]+)*$")


def _texts(node: ast.expr) -> list[str]:
    """The texts an action expression can take: both arms of a conditional, an f-string's
    fixed parts with `x` for each value, a name as itself (its values are checked where set)."""
    if isinstance(node, ast.IfExp):
        return _texts(node.body) + _texts(node.orelse)
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    return [ast.unparse(node)]


def _records_audit(func: ast.expr) -> bool:
    """record_audit(...), or AUDIT.record(...) on a feature's AuditTrail."""
    if isinstance(func, ast.Name):
        return func.id == "record_audit"
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "record"
        and isinstance(func.value, ast.Name)
        and func.value.id == "AUDIT"
    )


def audit_actions() -> dict[str, list[str]]:
    """{where: the action texts} of every audit call in app/ (f-string parts as x)."""
    found: dict[str, list[str]] = {}
    for path in sorted(APP.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and _records_audit(node.func)):
                continue
            (action,) = [k.value for k in node.keywords if k.arg == "action"]
            texts = _texts(action)
            where = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
            found[where] = texts
    return found


def test_audit_actions_are_one_pattern() -> None:
    actions = audit_actions()
    assert len(actions) >= 20  # the walk still finds the calls
    odd = {w: t for w, t in actions.items() if not all(AUDIT_ACTION.match(a) for a in t)}
    assert odd == {}, "audit actions are snake_case verbs (the resource is resource_type)"
