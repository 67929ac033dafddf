"""Apply the Piccolo migrations to a database (used by the CLI, `make run`, tests and CI)."""

from __future__ import annotations

import os
import subprocess
import sys

from app.core.config import PROJECT_ROOT


class MigrationError(RuntimeError):
    pass


def run_piccolo(args: list[str], *, database_url: str) -> str:
    """Run a piccolo CLI command against database_url; raise with its output on failure."""
    env = {**os.environ, "DATABASE_URL": database_url, "PICCOLO_CONF": "piccolo_conf"}
    result = subprocess.run(  # noqa: S603 - our own interpreter and fixed piccolo arguments
        [sys.executable, "-m", "piccolo.main", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    # piccolo prints "The command failed." yet exits 0 on some errors.
    if result.returncode != 0 or "The command failed" in output:
        raise MigrationError(f"piccolo {' '.join(args)} failed:\n{output}")
    return output


def migrate_forwards(database_url: str) -> str:
    return run_piccolo(["migrations", "forwards", "crmflow"], database_url=database_url)


def migrate_backwards_all(database_url: str) -> str:
    return run_piccolo(
        ["migrations", "backwards", "crmflow", "--migration_id=all", "--auto_agree"],
        database_url=database_url,
    )
