"""Retention: what old rows go, per tenant, in small batches that never hold up the engine.

Each tenant's policy is its own override (tenants.retention_days / retention_max_rows /
audit_retention_days) or the global setting. A row goes when it is older than the age window
or beyond the newest `max_rows` of its kind for the tenant:

- executions that are COMPLETED / FAILED / CANCELLED (with their step logs), by completion time;
  PENDING / RUNNING / WAITING ones are never touched, however old;
- events already dispatched that no execution references any more (so an execution's trigger
  event, a waiting one's included, stays as long as the execution does);
- inbound-delivery dedup rows, by receipt;
- SENT and REJECTED emails (drafts, approved and in-flight ones stay);
- audit logs by their own, longer window (age only).

Every batch is one short transaction deleting at most `batch` rows, locked with SKIP LOCKED
and re-checked in the DELETE, so a row an engine transaction holds (a retry flipping a FAILED
execution back to PENDING) is skipped, never waited for.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from app.core.config import Settings
from app.core.sql import fetch, fetchval
from app.core.uow import unit_of_work

FINISHED = "('COMPLETED', 'FAILED', 'CANCELLED')"
# A pause between batches: the engine's transactions get the locks and the I/O in between.
PAUSE_S = 0.01


@dataclass(frozen=True, slots=True)
class Policy:
    tenant_id: UUID
    slug: str
    days: int
    max_rows: int
    audit_days: int


@dataclass(slots=True)
class Counts:
    executions: int = 0
    execution_logs: int = 0
    events: int = 0
    inbound_deliveries: int = 0
    emails: int = 0
    audit_logs: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}

    def total(self) -> int:
        return sum(self.as_dict().values())


@dataclass(slots=True)
class Report:
    by_tenant: dict[str, Counts] = field(default_factory=dict)

    def total(self) -> Counts:
        counts = Counts()
        for item in self.by_tenant.values():
            counts.add(item)
        return counts


async def policies(settings: Settings, *, tenant_slug: str | None = None) -> list[Policy]:
    """Every tenant's effective policy: its overrides, else the global settings."""
    rows = await fetch(
        """
        SELECT id, slug, retention_days, retention_max_rows, audit_retention_days
        FROM tenants WHERE $1::text IS NULL OR slug = $1 ORDER BY slug
        """,
        tenant_slug,
    )
    return [
        Policy(
            tenant_id=r["id"],
            slug=r["slug"],
            days=r["retention_days"] or settings.retention_days,
            max_rows=r["retention_max_rows"] or settings.retention_max_rows,
            audit_days=r["audit_retention_days"] or settings.audit_retention_days,
        )
        for r in rows
    ]


async def set_policy(
    *,
    tenant_slug: str,
    days: int | None,
    max_rows: int | None,
    audit_days: int | None,
) -> bool:
    """Set a tenant's overrides (None: back to the global setting); False if no such tenant."""
    rows = await fetch(
        """
        UPDATE tenants SET retention_days = $2, retention_max_rows = $3,
                           audit_retention_days = $4, updated_at = now()
        WHERE slug = $1 RETURNING id
        """,
        tenant_slug,
        days,
        max_rows,
        audit_days,
    )
    return bool(rows)


# Per kind: the table, its tenant-scoped time column for the count boundary, the extra
# condition that makes a row prunable, and the age condition ($2 = age cutoff).
@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    table: str
    order_by: str
    prunable: str
    old: str


EXECUTIONS = Kind(
    "executions",
    "workflow_executions",
    "created_at",
    f"t.status IN {FINISHED}",
    "t.created_at < $2 AND COALESCE(t.completed_at, t.updated_at) < $2",
)
EVENTS = Kind(
    "events",
    "events",
    "created_at",
    "t.dispatched_at IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM workflow_executions x WHERE x.event = t.id)",
    "t.created_at < $2",
)
INBOUND = Kind(
    "inbound_deliveries", "inbound_deliveries", "received_at", "TRUE", "t.received_at < $2"
)
EMAILS = Kind(
    "emails",
    "emails",
    "created_at",
    "t.status IN ('SENT', 'REJECTED')",
    "t.created_at < $2 AND t.updated_at < $2",
)
AUDIT = Kind("audit_logs", "audit_logs", "created_at", "TRUE", "t.created_at < $2")


async def _count_boundary(kind: Kind, tenant_id: UUID, max_rows: int) -> datetime | None:
    """The time of the newest row beyond the tenant's newest max_rows (None: not that many)."""
    value: datetime | None = await fetchval(
        f"""
        SELECT {kind.order_by} FROM {kind.table} WHERE tenant = $1
        ORDER BY {kind.order_by} DESC OFFSET $2 LIMIT 1
        """,  # noqa: S608 - table and column names are constants above
        tenant_id,
        max_rows,
    )
    return value


def _where(kind: Kind) -> str:
    # $1 tenant, $2 age cutoff, $3 count boundary (NULL: none).
    return f"t.tenant = $1 AND {kind.prunable} AND (({kind.old}) OR t.{kind.order_by} <= $3)"


async def _delete_batch(kind: Kind, args: tuple[Any, ...], batch: int) -> tuple[int, int]:
    """Delete up to `batch` rows of kind (one transaction); (rows, step logs with them)."""
    where = _where(kind)
    async with unit_of_work():
        ids = [
            r["id"]
            for r in await fetch(
                f"""
                SELECT t.id FROM {kind.table} t WHERE {where}
                ORDER BY t.{kind.order_by} LIMIT {int(batch)} FOR UPDATE SKIP LOCKED
                """,  # noqa: S608 - constants and an int
                *args,
            )
        ]
        if not ids:
            return 0, 0
        logs = 0
        if kind is EXECUTIONS:
            # Counted for the report; the FK cascade would delete them the same way.
            logs = len(
                await fetch(
                    "DELETE FROM workflow_execution_logs WHERE execution = ANY($1::uuid[]) "
                    "RETURNING 1",
                    ids,
                )
            )
        # Re-checked: the row still prunable now that it is locked (e.g. not retried meanwhile).
        deleted = await fetch(
            f"DELETE FROM {kind.table} t WHERE t.id = ANY($4::uuid[]) AND {where} RETURNING 1",  # noqa: S608
            *args,
            ids,
        )
    return len(deleted), logs


async def _count(kind: Kind, args: tuple[Any, ...]) -> tuple[int, int]:
    where = _where(kind)
    rows = await fetchval(
        f"SELECT count(*) FROM {kind.table} t WHERE {where}",  # noqa: S608 - constants
        *args,
    )
    logs = 0
    if kind is EXECUTIONS:
        logs = await fetchval(
            f"""
            SELECT count(*) FROM workflow_execution_logs l
            JOIN workflow_executions t ON t.id = l.execution WHERE {where}
            """,  # noqa: S608 - constants
            *args,
        )
    return int(rows), int(logs)


async def prune_tenant(
    policy: Policy,
    *,
    batch: int,
    dry_run: bool = False,
    now: datetime | None = None,
    stop: asyncio.Event | None = None,
) -> Counts:
    """Prune (or with dry_run, count) what the tenant's policy lets go, kind by kind."""
    now = now or datetime.now(UTC)
    counts = Counts()
    # Executions first: events go only once no execution references them.
    for kind in (EXECUTIONS, EVENTS, INBOUND, EMAILS, AUDIT):
        if kind is AUDIT:
            args: tuple[Any, ...] = (
                policy.tenant_id,
                now - timedelta(days=policy.audit_days),
                None,
            )
        else:
            boundary = await _count_boundary(kind, policy.tenant_id, policy.max_rows)
            args = (policy.tenant_id, now - timedelta(days=policy.days), boundary)
        if dry_run:
            rows, logs = await _count(kind, args)
        else:
            rows = logs = 0
            while stop is None or not stop.is_set():
                deleted, deleted_logs = await _delete_batch(kind, args, batch)
                rows, logs = rows + deleted, logs + deleted_logs
                if deleted < batch:
                    break
                await asyncio.sleep(PAUSE_S)
        setattr(counts, kind.name, rows)
        if kind is EXECUTIONS:
            counts.execution_logs = logs
    return counts


async def prune(
    settings: Settings,
    *,
    dry_run: bool = False,
    tenant_slug: str | None = None,
    now: datetime | None = None,
    stop: asyncio.Event | None = None,
) -> Report:
    """Every tenant's prune (or dry run), tenant by tenant."""
    report = Report()
    for policy in await policies(settings, tenant_slug=tenant_slug):
        counts = await prune_tenant(
            policy, batch=settings.prune_batch_size, dry_run=dry_run, now=now, stop=stop
        )
        if counts.total():
            report.by_tenant[policy.slug] = counts
    return report
