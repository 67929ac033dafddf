"""Retention: old finished rows go; recent, unfinished and still-needed ones stay; tenants win."""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

import msgspec

from app.core.config import get_settings
from app.core.sql import fetch, fetchval
from app.core.uow import unit_of_work
from app.retention.service import prune, set_policy
from tests.conftest import TenantCtx
from tests.engine.helpers import create_workflow
from tests.helpers import cli


async def _slug(tenant: TenantCtx) -> str:
    slug: str = await fetchval("SELECT slug FROM tenants WHERE id = $1", tenant.tenant_id)
    return slug


async def _event(tenant: TenantCtx, *, days: float, dispatched: bool = True) -> UUID:
    event_id = uuid.uuid4()
    await fetch(
        """
        INSERT INTO events (id, tenant, type, payload, depth, dispatched_at, created_at)
        VALUES ($1, $2, 'order.paid', '{}'::jsonb, 0,
                CASE WHEN $4 THEN now() - make_interval(secs => $3 * 86400) END,
                now() - make_interval(secs => $3 * 86400))
        """,
        event_id,
        tenant.tenant_id,
        days,
        dispatched,
    )
    return event_id


async def _execution(
    tenant: TenantCtx,
    workflow_id: str,
    *,
    days: float,
    status: str = "COMPLETED",
    event_id: UUID | None = None,
    logs: int = 2,
) -> UUID:
    execution_id = uuid.uuid4()
    finished = status in ("COMPLETED", "FAILED", "CANCELLED")
    await fetch(
        """
        INSERT INTO workflow_executions (id, tenant, workflow, event, workflow_version, definition,
            status, trigger_data, current_step, depth, resume_at, started_at, completed_at,
            created_at, updated_at)
        VALUES ($1, $2, $3, $4, 1, '{"actions": []}'::jsonb, $5::text, '{}'::jsonb, 0, 0,
            CASE WHEN $5::text = 'WAITING' THEN now() + interval '1 day' END,
            now() - make_interval(secs => $6 * 86400),
            CASE WHEN $7 THEN now() - make_interval(secs => $6 * 86400) END,
            now() - make_interval(secs => $6 * 86400), now() - make_interval(secs => $6 * 86400))
        """,
        execution_id,
        tenant.tenant_id,
        UUID(workflow_id),
        event_id,
        status,
        days,
        finished,
    )
    for step in range(logs):
        await fetch(
            """
            INSERT INTO workflow_execution_logs (id, execution, step_index, action_type, status,
                attempt, input_data, duration_ms, executed_at, created_at)
            VALUES ($1, $2, $3, 'ADD_TAG', 'SUCCESS', 1, '{}'::jsonb, 1, now(), now())
            """,
            uuid.uuid4(),
            execution_id,
            step,
        )
    return execution_id


async def _email(tenant: TenantCtx, *, days: float, status: str) -> UUID:
    email_id = uuid.uuid4()
    await fetch(
        """
        INSERT INTO emails (id, tenant, "to", subject, body, status, attempts, created_at,
                            updated_at)
        VALUES ($1, $2, 'a@x.test', 's', 'b', $3, 0, now() - make_interval(secs => $4 * 86400),
                now() - make_interval(secs => $4 * 86400))
        """,
        email_id,
        tenant.tenant_id,
        status,
        days,
    )
    return email_id


async def _delivery(tenant: TenantCtx, *, days: float) -> UUID:
    row_id = uuid.uuid4()
    await fetch(
        """
        INSERT INTO inbound_deliveries (id, tenant, source, delivery_id, received_at, created_at)
        VALUES ($1, $2, 'erp', $3, now() - make_interval(secs => $4 * 86400), now())
        """,
        row_id,
        tenant.tenant_id,
        row_id.hex,
        days,
    )
    return row_id


async def _audit(tenant: TenantCtx, *, days: float) -> UUID:
    row_id = uuid.uuid4()
    await fetch(
        """
        INSERT INTO audit_logs (id, tenant, action, resource_type, changes, created_at)
        VALUES ($1, $2, 'update', 'client', '{}'::jsonb, now() - make_interval(secs => $3 * 86400))
        """,
        row_id,
        tenant.tenant_id,
        days,
    )
    return row_id


async def _exists(table: str, row_id: UUID) -> bool:
    return bool(await fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", row_id))  # noqa: S608


async def _workflow(tenant: TenantCtx) -> str:
    wf = await create_workflow(
        tenant, trigger_type="MANUAL", actions=[{"type": "ADD_TAG", "config": {"tag": "x"}}]
    )
    workflow_id: str = wf["id"]
    return workflow_id


async def test_old_finished_rows_go_recent_and_unfinished_stay(tenant: TenantCtx) -> None:
    wf = await _workflow(tenant)
    old_event = await _event(tenant, days=20)
    old_done = await _execution(tenant, wf, days=20, event_id=old_event)
    old_failed = await _execution(tenant, wf, days=15, status="FAILED")
    recent_done = await _execution(tenant, wf, days=1)
    # Parked for 30 days: neither it nor its trigger event may go.
    waiting_event = await _event(tenant, days=30)
    waiting = await _execution(tenant, wf, days=30, status="WAITING", event_id=waiting_event)
    # Unfinished in any state, however old: never pruned, nor the event each one runs for.
    pending_event = await _event(tenant, days=25)
    pending = await _execution(tenant, wf, days=25, status="PENDING", event_id=pending_event)
    running_event = await _event(tenant, days=25)
    running = await _execution(tenant, wf, days=25, status="RUNNING", event_id=running_event)
    undispatched = await _event(tenant, days=20, dispatched=False)
    recent_event = await _event(tenant, days=2)
    old_sent = await _email(tenant, days=20, status="SENT")
    old_rejected = await _email(tenant, days=20, status="REJECTED")
    old_draft = await _email(tenant, days=20, status="DRAFT")
    recent_sent = await _email(tenant, days=3, status="SENT")
    old_delivery = await _delivery(tenant, days=20)
    recent_delivery = await _delivery(tenant, days=1)
    old_audit = await _audit(tenant, days=20)
    ancient_audit = await _audit(tenant, days=400)

    settings = get_settings()
    slug = await _slug(tenant)
    dry = await prune(settings, dry_run=True, tenant_slug=slug)
    assert dry.by_tenant[slug].as_dict() == {
        "executions": 2,
        "execution_logs": 4,
        "events": 0,  # old_event is still referenced by old_done until that goes
        "inbound_deliveries": 1,
        "emails": 2,
        "audit_logs": 1,
    }
    assert await _exists("workflow_executions", old_done)  # a dry run deletes nothing

    report = await prune(settings, tenant_slug=slug)
    assert report.by_tenant[slug].as_dict() == {
        "executions": 2,
        "execution_logs": 4,
        "events": 1,
        "inbound_deliveries": 1,
        "emails": 2,
        "audit_logs": 1,
    }
    gone = [
        ("workflow_executions", old_done),
        ("workflow_executions", old_failed),
        ("events", old_event),
        ("emails", old_sent),
        ("emails", old_rejected),
        ("inbound_deliveries", old_delivery),
        ("audit_logs", ancient_audit),
    ]
    kept = [
        ("workflow_executions", recent_done),
        ("workflow_executions", waiting),
        ("events", waiting_event),
        ("workflow_executions", pending),
        ("events", pending_event),
        ("workflow_executions", running),
        ("events", running_event),
        ("events", undispatched),
        ("events", recent_event),
        ("emails", old_draft),
        ("emails", recent_sent),
        ("inbound_deliveries", recent_delivery),
        ("audit_logs", old_audit),
    ]
    for table, row_id in gone:
        assert not await _exists(table, row_id), (table, row_id)
    for table, row_id in kept:
        assert await _exists(table, row_id), (table, row_id)
    logs = await fetchval(
        "SELECT count(*) FROM workflow_execution_logs WHERE execution = ANY($1::uuid[])",
        [old_done, old_failed],
    )
    assert logs == 0
    for unfinished in (waiting, pending, running):
        assert (
            await fetchval(
                "SELECT count(*) FROM workflow_execution_logs WHERE execution = $1", unfinished
            )
            == 2
        )
    # Nothing left to do: a second run deletes nothing.
    assert slug not in (await prune(settings, tenant_slug=slug)).by_tenant


async def test_tenant_settings_win_over_global_ones(tenant: TenantCtx) -> None:
    wf = await _workflow(tenant)
    slug = await _slug(tenant)
    twenty_days = await _execution(tenant, wf, days=20)
    settings = get_settings()
    # Global: 30 days keeps it.
    longer = msgspec.structs.replace(settings, retention_days=30)
    assert slug not in (await prune(longer, tenant_slug=slug)).by_tenant
    # The tenant's own 60 days beat a global 14.
    async with unit_of_work():
        await set_policy(tenant_slug=slug, days=60, max_rows=None, audit_days=None)
    assert slug not in (await prune(settings, tenant_slug=slug)).by_tenant
    assert await _exists("workflow_executions", twenty_days)
    # Counts: the global maximum applies while the tenant sets none ...
    recent = [await _execution(tenant, wf, days=d, logs=0) for d in (0.4, 0.3, 0.2, 0.1)]
    at_most_four = msgspec.structs.replace(settings, retention_max_rows=4)
    assert (await prune(at_most_four, tenant_slug=slug)).by_tenant[slug].executions == 1
    assert not await _exists("workflow_executions", twenty_days)
    # ... and the tenant's own maximum wins over it: only the newest 2 are kept.
    async with unit_of_work():
        await set_policy(tenant_slug=slug, days=60, max_rows=2, audit_days=None)
    report = await prune(at_most_four, tenant_slug=slug)
    assert report.by_tenant[slug].executions == 2
    assert [await _exists("workflow_executions", r) for r in recent] == [False, False, True, True]
    # Audit logs: the tenant's own 10 days beat the global 365.
    old_audit, recent_audit = await _audit(tenant, days=20), await _audit(tenant, days=5)
    assert slug not in (await prune(settings, tenant_slug=slug)).by_tenant
    async with unit_of_work():
        await set_policy(tenant_slug=slug, days=None, max_rows=None, audit_days=10)
    assert (await prune(settings, tenant_slug=slug)).by_tenant[slug].audit_logs == 1
    assert not await _exists("audit_logs", old_audit)
    assert await _exists("audit_logs", recent_audit)


async def test_prune_dry_run_command(tenant: TenantCtx, database_url: str) -> None:
    wf = await _workflow(tenant)
    old = await _execution(tenant, wf, days=20)
    slug = await _slug(tenant)
    done = await asyncio.to_thread(
        cli, "prune", "--dry-run", "--tenant", slug, env={"DATABASE_URL": database_url}
    )
    assert done.returncode == 0, done.stderr
    assert f"{slug}: would delete executions=1, execution_logs=2" in done.stdout
    assert await _exists("workflow_executions", old)
