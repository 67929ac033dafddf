"""DELAY: compute when the execution resumes; the runner parks it as WAITING until then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.engine.actions._util import render_step
from app.engine.actions.base import ActionError, StepContext
from app.workflows.definition import DelayConfig


def resume_time(config: DelayConfig) -> datetime:
    """When to resume, from a config whose templates are rendered."""
    now = datetime.now(UTC)
    if config.duration is not None:
        return now + timedelta(seconds=config.duration.total_seconds())
    if config.until is None:
        raise ActionError("DELAY needs a duration or an until time", retryable=False)
    text = config.until.strip()
    try:
        until = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ActionError(f"until {text!r} is not an ISO-8601 date-time", retryable=False) from exc
    if until.tzinfo is None:
        raise ActionError(f"until {text!r} has no UTC offset", retryable=False)
    return until


async def validate_delay(ctx: StepContext, config: DelayConfig) -> DelayConfig:
    """DELAY, rendered: a usable time."""
    resume_time(config)
    return config


async def check_delay(ctx: StepContext, config: DelayConfig) -> DelayConfig:
    return await validate_delay(ctx, await render_step(ctx, config))


async def delay(ctx: StepContext, config: DelayConfig) -> dict[str, Any]:
    return {"resume_at": resume_time(await check_delay(ctx, config)).isoformat()}
