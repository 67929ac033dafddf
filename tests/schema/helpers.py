"""Helpers for the schema tests: scratch databases and the verify CLI as a subprocess."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.core.config import PROJECT_ROOT

VERIFY_SCRIPT = PROJECT_ROOT / "scripts" / "verify_schema.py"


@dataclass
class VerifyRun:
    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    def messages(self) -> list[str]:
        return [d["message"] for d in self.report["schema"]["differences"]]

    def failed_cascades(self) -> list[str]:
        return [c["name"] for c in self.report["cascades"]["checks"] if not c["ok"]]


async def run_verify(url: str, *args: str) -> VerifyRun:
    """The real CLI, as `make verify` runs it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(VERIFY_SCRIPT),
        "--database-url",
        url,
        *args,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode is not None
    return VerifyRun(proc.returncode, out.decode(), err.decode())


async def execute(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def public_tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}
