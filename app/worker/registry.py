"""Every job function and cron job the worker runs, in one place (names are `feature.verb`).

To add yours: decorate an `async def job(ctx, **kwargs)` with app.worker.enqueue.job_name(...)
and list it in FUNCTIONS (or as a CronJob in cron_jobs()).
"""

from __future__ import annotations

from typing import Any

from saq.job import CronJob

from app.core.config import Settings
from app.emails.jobs import SWEEP_CRON as EMAIL_SWEEP_CRON
from app.emails.jobs import deliver_job, sweep_job
from app.engine.jobs import dispatch_sweep, process_events, recover_sweep, run_execution

FUNCTIONS: list[Any] = [process_events, run_execution, deliver_job]

# Sweeps: one at a time per queue (unique), short, retried by the next tick rather than by SAQ.
_SWEEP = {"timeout": 120, "heartbeat": 0, "retries": 1, "ttl": 60}


def cron_jobs(settings: Settings) -> list[CronJob[Any]]:
    return [
        CronJob(dispatch_sweep, cron=settings.dispatch_sweep_cron, **_SWEEP),  # type: ignore[arg-type]
        CronJob(recover_sweep, cron="* * * * * */5", **_SWEEP),  # type: ignore[arg-type]
        CronJob(sweep_job, cron=EMAIL_SWEEP_CRON, **_SWEEP),  # type: ignore[arg-type]
    ]
