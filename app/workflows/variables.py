"""The one builder of what templates and conditions see: {"client", "event", "workflow"}.

The engine (matching and every step) and the dry run both build their variables here, so a
template or condition can never behave differently in a dry run than in the real execution.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID


def event_variables(
    *,
    event_id: UUID | None,
    event_type: str,
    payload: dict[str, Any] | None,
    depth: int,
    created_at: datetime,
) -> dict[str, Any]:
    """`event` as templates see it (and as an execution's trigger_data stores it)."""
    return {
        "id": None if event_id is None else str(event_id),
        "type": event_type,
        "payload": payload or {},
        "depth": depth,
        "created_at": created_at.isoformat(),
    }


def workflow_variables(*, workflow_id: UUID, name: str, version: int) -> dict[str, Any]:
    """`workflow` as templates see it."""
    return {"id": str(workflow_id), "name": name, "version": version}


def build_variables(
    *, client: dict[str, Any] | None, event: dict[str, Any], workflow: dict[str, Any]
) -> dict[str, Any]:
    """The template and condition context; no client is an empty `client`."""
    return {"client": client or {}, "event": event, "workflow": workflow}
