"""Jinja filters for the console's templates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jinja2
import msgspec
from litestar.plugins.jinja import JinjaTemplateEngine


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def pretty(value: Any) -> str:
    """JSON for a <pre> block; the template autoescapes it."""
    try:
        return msgspec.json.format(msgspec.json.encode(value), indent=2).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(value)


def short(value: Any) -> str:
    return str(value)[:8] if value else "—"


def ms(value: int | None) -> str:
    if value is None:
        return "—"
    return f"{value} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def local_input(value: datetime | None) -> str:
    """A value for <input type=datetime-local> (UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if value else ""


def register_filters(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    # A misspelt name or attribute fails the page (and its test) instead of printing nothing.
    env.undefined = jinja2.StrictUndefined
    env.filters.update(when=when, pretty=pretty, short=short, ms=ms, local_input=local_input)
