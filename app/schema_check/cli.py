"""`scripts/verify_schema.py`: exit 0 in sync, 2 drift (or failed cascade), 1 error."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import traceback

from app.schema_check.report import Report, render_text
from app.schema_check.verify import ConnectError, verify


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verify_schema.py",
        description="Check that the live database equals the declared schema (tables/ and "
        "tables/indexes.py), that every migration ran and none is missing, and "
        "that delete cascades behave as declared. Never changes data. "
        "Exit 0 in sync, 2 drift, 1 error.",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="database to check (default: DATABASE_URL or the embedded server)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--skip-cascades",
        action="store_true",
        help="do not run the (rolled-back) delete-cascade check",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="list every cascade check, not only failures"
    )
    return parser


def _emit(report: Report, *, as_json: bool, verbose: bool) -> None:
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(render_text(report, verbose=verbose))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    url: str = args.database_url or ""
    try:
        if not url:
            from app.core.db import resolve_database_url

            url = resolve_database_url()
        # piccolo_conf (imported lazily by the table classes) must point at the same server.
        os.environ["DATABASE_URL"] = url
        from app.core.config import get_settings

        get_settings.cache_clear()
        report = asyncio.run(verify(url, cascades=not args.skip_cascades))
    except ConnectError as exc:
        report = Report(database=url, error=str(exc))
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        report = Report(database=url, error=f"crashed: {type(exc).__name__}: {exc}")
    _emit(report, as_json=args.json, verbose=args.verbose)
    return report.exit_code
