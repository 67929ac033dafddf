"""The verification result, for people (text) and machines (JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app.schema_check.cascades import CascadeCheck
from app.schema_check.diff import Difference
from app.schema_check.migrations import MigrationStatus

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DRIFT = 2


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Report:
    database: str
    migrations: MigrationStatus | None = None
    differences: list[Difference] = field(default_factory=list)
    declared_tables: int = 0
    live_tables: int = 0
    declared_built_in: str = ""
    cascades: list[CascadeCheck] = field(default_factory=list)
    cascades_skipped: bool = False
    error: str | None = None

    @property
    def cascades_ok(self) -> bool:
        return all(c.ok for c in self.cascades)

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return EXIT_ERROR
        migrations_ok = self.migrations is not None and self.migrations.ok
        if migrations_ok and not self.differences and self.cascades_ok:
            return EXIT_OK
        return EXIT_DRIFT

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "database": redact(self.database),
            "error": self.error,
            "migrations": self.migrations.as_dict() if self.migrations else None,
            "schema": {
                "ok": not self.differences,
                "declared_tables": self.declared_tables,
                "live_tables": self.live_tables,
                "declared_built_in": self.declared_built_in,
                "differences": [d.as_dict() for d in self.differences],
            },
            "cascades": {
                "ok": self.cascades_ok,
                "skipped": self.cascades_skipped,
                "checks": [c.as_dict() for c in self.cascades],
            },
        }


def _mark(ok: bool) -> str:
    return "ok  " if ok else "FAIL"


def render_text(report: Report, *, verbose: bool = False) -> str:
    lines = [f"crmflow schema check: {redact(report.database)}", ""]
    if report.error is not None:
        lines += [f"ERROR: {report.error}", "", "Result: ERROR (exit 1)"]
        return "\n".join(lines)

    m = report.migrations
    if m is not None:
        ledger = " (no migration ledger table: nothing ever ran)" if m.ledger_missing else ""
        lines.append(
            f"[{_mark(m.ok)}] migrations: {len(m.applied)} applied, "
            f"{len(m.pending)} pending, {len(m.unknown)} unknown{ledger}"
        )
        lines += [f"         - {p}" for p in m.problems()]
        lines += [f"             {s}" for s in m.auto_statements]
        if not m.auto_statements:
            lines.append("         tables/ = migration history (an auto migration would be empty)")

    diff_ok = not report.differences
    lines.append(
        f"[{_mark(diff_ok)}] schema: declared {report.declared_tables} tables vs live "
        f"{report.live_tables}: "
        + ("in sync" if diff_ok else f"{len(report.differences)} difference(s)")
    )
    lines += [f"         - {d.message}" for d in report.differences]

    if report.cascades_skipped:
        lines.append("[skip] cascades: not checked (--skip-cascades)")
    else:
        passed = sum(c.ok for c in report.cascades)
        lines.append(
            f"[{_mark(report.cascades_ok)}] cascades: {passed}/{len(report.cascades)} "
            "checks passed (in a rolled-back transaction)"
        )
        for check in report.cascades:
            if verbose or not check.ok:
                detail = f": {check.detail}" if check.detail and not check.ok else ""
                lines.append(f"         {'ok  ' if check.ok else 'FAIL'} {check.name}{detail}")

    verdict = {0: "IN SYNC", 2: "DRIFT"}[report.exit_code]
    lines += ["", f"Result: {verdict} (exit {report.exit_code})"]
    return "\n".join(lines)
