"""Read the console's URL filters: every bad value becomes a message on the page, never a 500."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from app.executions.schemas import ExecutionFilter
from tables.enums import ExecutionStatus

MAX_Q = 200


@dataclass
class ExecutionFilters:
    status: ExecutionStatus | None = None
    workflow: UUID | None = None
    client: UUID | None = None
    event_type: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None
    cursor: str | None = None
    # The raw text of each field, to put back in the form as the operator typed it.
    raw: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)

    def query(self, **override: str | None) -> str:
        """The filters as a query string (for links, the next page, the auto-refresh)."""
        params = {k: v for k, v in self.raw.items() if v}
        for key, value in override.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return urlencode(params)

    @property
    def active(self) -> bool:
        return any(v for k, v in self.raw.items() if k != "cursor")

    def service_filter(self) -> ExecutionFilter:
        """The same filter as the API's list and bulk actions take (app.executions)."""
        return ExecutionFilter(
            status=self.status,
            workflow=self.workflow,
            client=self.client,
            event_type=self.event_type,
            created_after=self.created_from,
            created_before=self.created_to,
            q=self.q,
        )

    def hidden(self) -> list[tuple[str, str]]:
        """The filters as hidden form fields (a bulk form acts on exactly what the list shows)."""
        return [(k, v) for k, v in self.raw.items() if v and k != "cursor"]


FILTER_FIELDS = ("status", "workflow", "client", "event_type", "from", "to", "q", "cursor")


def _uuid(raw: str, name: str, errors: list[dict[str, str]]) -> UUID | None:
    try:
        return UUID(raw)
    except ValueError:
        errors.append({"path": f"query.{name}", "message": f"{raw!r} is not an id (a UUID)."})
        return None


def parse_time(raw: str) -> datetime | None:
    """An ISO date-time or the browser's datetime-local value; naive means UTC."""
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_execution_filters(params: Any) -> ExecutionFilters:
    raw = {k: str(params.get(k, "")).strip() for k in FILTER_FIELDS if params.get(k)}
    f = ExecutionFilters(raw=raw)
    errors = f.errors
    if v := raw.get("status"):
        try:
            f.status = ExecutionStatus(v.upper())
        except ValueError:
            allowed = ", ".join(s.value for s in ExecutionStatus)
            errors.append({"path": "query.status", "message": f"{v!r} is not one of {allowed}."})
    if v := raw.get("workflow"):
        f.workflow = _uuid(v, "workflow", errors)
    if v := raw.get("client"):
        f.client = _uuid(v, "client", errors)
    if v := raw.get("event_type"):
        if len(v) > 100:
            errors.append({"path": "query.event_type", "message": "At most 100 characters."})
        else:
            f.event_type = v
    for name, attr in (("from", "created_from"), ("to", "created_to")):
        if v := raw.get(name):
            when = parse_time(v)
            if when is None:
                errors.append(
                    {
                        "path": f"query.{name}",
                        "message": f"{v!r} is not a date-time (use 2026-11-24T09:30).",
                    }
                )
            setattr(f, attr, when)
    if f.created_from and f.created_to and f.created_from >= f.created_to:
        errors.append({"path": "query.to", "message": "'to' must be after 'from'."})
    if v := raw.get("q"):
        if len(v) > MAX_Q:
            errors.append({"path": "query.q", "message": f"At most {MAX_Q} characters."})
        else:
            f.q = v
    if v := raw.get("cursor"):
        f.cursor = v
    return f
