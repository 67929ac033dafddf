"""The fault-injection script, short: a few worker SIGKILLs and one database (or Redis) restart
under load, then every invariant checked by SQL. Not timed: the script's own figures are for
people; here only its invariants count.

The script runs its own PostgreSQL (and redis-server) in a temporary directory, since it stops
them; nothing here touches the suite's servers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from app.core.config import PROJECT_ROOT

SHORT = ["--workers", "2", "--rate", "10", "--kills", "3", "--kill-min", "2", "--kill-max", "4"]
SHORT += ["--clients", "10", "--mail-every", "3", "--outage-s", "3", "--drain-timeout-s", "300"]


def _chaos(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "scripts/chaos.py", *SHORT, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    last = (done.stdout.strip().splitlines() or [""])[-1]
    assert last.startswith("{"), (done.stdout[-3000:], done.stderr[-3000:])
    summary: dict[str, Any] = json.loads(last)
    failed = {k: n for k, n in summary["violations"].items() if n}
    assert not failed, (failed, done.stdout[-4000:], done.stderr[-3000:])
    assert done.returncode == 0, done.stderr[-3000:]
    return summary


@pytest.mark.parametrize(
    ("backend", "outage"),
    [("postgres", "database"), ("redis", "redis")],
)
def test_kills_and_a_restart_under_load_break_no_invariant(backend: str, outage: str) -> None:
    restart = "--db-restart-at" if outage == "database" else "--redis-restart-at"
    summary = _chaos("--backend", backend, restart, "6")
    figures = summary["figures"]
    assert figures["kills"] == 3
    assert figures["events"] > 0
    assert figures["emails"] > 0
    if outage == "database":
        # While the database was down the API said so: 503s, and (checked above) no 500s.
        assert figures["http_statuses_during_outage"]["database"].get("503", 0) > 0
