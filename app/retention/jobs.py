"""The retention sweep, run by the queue's lease holder every PRUNE_INTERVAL_S."""

from __future__ import annotations

from typing import Any

import structlog

from app.core.config import get_settings
from app.core.metrics import PRUNED_ROWS
from app.retention.service import prune

log = structlog.get_logger("crmflow.retention")


async def retention_sweep() -> dict[str, Any]:
    """Prune every tenant in small batches; one INFO line when anything went."""
    report = await prune(get_settings())
    total = report.total().as_dict()
    for table, count in total.items():
        if count:
            PRUNED_ROWS.labels(table).inc(count)
    if any(total.values()):
        log.info("retention.pruned", tenants=len(report.by_tenant), **total)
    return total
