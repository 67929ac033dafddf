"""DELAY: compute when the execution resumes; the runner parks it as WAITING until then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.engine.actions._util import render_field
from app.engine.actions.base import ActionError, StepContext
from app.workflows.definition import DelayConfig


def resume_time(ctx: StepContext, config: DelayConfig) -> datetime:
    now = datetime.now(UTC)
    if config.duration is not None:
        return now + timedelta(seconds=config.duration.total_seconds())
    if config.until is None:
        raise ActionError("DELAY needs a duration or an until time", retryable=False)
    text = render_field("until", config.until, ctx.variables).strip()
    try:
        until = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ActionError(f"until {text!r} is not an ISO-8601 date-time", retryable=False) from exc
    if until.tzinfo is None:
        raise ActionError(f"until {text!r} has no UTC offset", retryable=False)
    return until


async def delay(ctx: StepContext, config: DelayConfig) -> dict[str, Any]:
    return {"resume_at": resume_time(ctx, config).isoformat()}
