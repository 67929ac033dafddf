"""The layering rules of README "Architecture", checked over the source so they stay true.

- No controller (nor console page) opens a transaction: the request's unit of work is opened in
  one place (`TransactionMiddleware` on every writing route) and services never commit.
- No controller puts work on the queue: services hand jobs to the unit of work
  (`enqueue_after_commit`), which enqueues them after the commit.
"""

from __future__ import annotations

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
