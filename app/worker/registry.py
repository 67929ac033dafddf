"""Every job function and periodic sweep the worker runs, in one place (names are `feature.verb`).

To add yours: decorate an `async def job(ctx, **kwargs)` with app.worker.enqueue.job_name(...)
and list it in FUNCTIONS; periodic work is a Sweep in sweeps().
"""

from __future__ import annotations

from typing import Any

from app.core.config import Settings
from app.emails.jobs import deliver_job, email_sweep
from app.engine.jobs import dispatch_sweep, process_events, recover_sweep, run_execution
from app.retention.jobs import retention_sweep
from app.worker.sweeps import Sweep

FUNCTIONS: list[Any] = [process_events, run_execution, deliver_job]


def sweeps(settings: Settings) -> list[Sweep]:
    """The periodic sweeps (run by the queue's lease holder, see app/worker/sweeps.py)."""
    return [
        Sweep("engine.dispatch_sweep", settings.sweep_interval_s, dispatch_sweep),
        Sweep("engine.recover_sweep", settings.sweep_interval_s, recover_sweep),
        Sweep("emails.sweep", settings.sweep_interval_s, email_sweep),
        Sweep("retention.prune", settings.prune_interval_s, retention_sweep),
    ]
