"""Fairness: one tenant's backlog does not hold back another tenant's events (both backends)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from app.core.sql import fetch
from app.engine import jobs
from app.worker.enqueue import enqueue_events
from tests.conftest import TenantCtx
from tests.engine.conftest import Backend
from tests.engine.helpers import count, create_workflow, unique, wait_for

FLOOD = 1000
JOB_SIZE = 10


async def _write_events(tenant: TenantCtx, name: str, n: int) -> list[UUID]:
    """n custom events committed straight to the outbox (no dispatcher: we enqueue them)."""
    ids = [uuid4() for _ in range(n)]
    await fetch(
        """
        INSERT INTO events (id, tenant, type, payload, depth, created_at)
        SELECT i, $2, $3, '{}'::jsonb, 0, clock_timestamp() FROM unnest($1::uuid[]) AS i
        """,
        ids,
        tenant.tenant_id,
        name,
    )
    return ids


async def _completed(workflow_id: str) -> int:
    return await count(
        "SELECT count(*) FROM workflow_executions WHERE workflow = $1 AND status = 'COMPLETED'",
        UUID(workflow_id),
    )


async def test_a_tenants_backlog_does_not_hold_back_another_tenant(
    backend: Backend, tenant: TenantCtx, other: TenantCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A's 1,000 events are queued first, in 100 jobs, then B's 3 in one job. With one drain
    slot per tenant, B's events run as soon as the queue reaches their job, while A's backlog
    waits in the outbox; first come first served would run 800+ of A's before B's job starts
    (20 job slots, B's job the 101st)."""
    monkeypatch.setattr(jobs, "tenant_limit", lambda: 1)
    name = unique("flood")
    step = [{"type": "CREATE_TASK", "config": {"title": "{{event.type}}"}}]
    flood = await create_workflow(
        tenant, trigger_type="CUSTOM", trigger_config={"event": name}, actions=step
    )
    quiet = await create_workflow(
        other, trigger_type="CUSTOM", trigger_config={"event": name}, actions=step
    )
    a_events = await _write_events(tenant, name, FLOOD)
    b_events = await _write_events(other, name, 3)
    for at in range(0, FLOOD, JOB_SIZE):
        await enqueue_events(a_events[at : at + JOB_SIZE])
    await enqueue_events(b_events)

    await wait_for(
        lambda: _completed(quiet["id"]), until=lambda n: n == 3, what="B's three executions"
    )
    a_done = await _completed(flood["id"])
    assert a_done < FLOOD // 2, f"B waited for {a_done} of A's executions"

    # A's backlog drains completely on its own slot (continuations, no sweep needed), once each.
    await wait_for(
        lambda: _completed(flood["id"]),
        until=lambda n: n == FLOOD,
        deadline_s=180,
        what="A's backlog",
    )
    assert (
        await count(
            "SELECT count(*) FROM workflow_executions WHERE workflow = $1", UUID(flood["id"])
        )
        == FLOOD
    )
    assert (
        await count(
            "SELECT count(*) FROM events WHERE id = ANY($1::uuid[]) AND dispatched_at IS NULL",
            a_events,
        )
        == 0
    )
