"""The dry run behaves exactly as the engine (issue 8, item 10; issue 10, item 4): the same
variables builder, the same action registry, the same checks — so a step the run would fail
fails the dry run with the same message, the webhook address guard included."""

from __future__ import annotations

from typing import Any

from app.engine.actions import CHECKS, HANDLERS
from app.workflows.definition import ACTION_TYPES
from tests.conftest import TenantCtx
from tests.engine.helpers import create_workflow, wait_status
from tests.workflows.conftest import make_client

BOMB = "{% set x = client.name * 1000 %}" + "{% set x = x ~ x %}" * 40


def _continue(action: dict[str, Any]) -> dict[str, Any]:
    return {**action, "on_error": "continue", "retry": {"max_attempts": 1}}


FAILING_STEPS = [
    # The address guard: a loopback port nobody allowlisted, a private and a metadata address,
    # an IPv6 form of 127.0.0.1.
    {"type": "WEBHOOK", "config": {"url": "http://127.0.0.1:9/{{ event.type }}"}},
    {"type": "WEBHOOK", "config": {"url": "http://10.1.2.3/hook"}},
    {"type": "WEBHOOK", "config": {"url": "http://169.254.169.254/latest/meta-data/"}},
    {"type": "WEBHOOK", "config": {"url": "http://[64:ff9b::7f00:1]/hook"}},
    # A rendered recipient that is not an address.
    {"type": "SEND_EMAIL", "config": {"to": "{{ client.name }}", "subject": "s", "body": "b"}},
    # A rendered DELAY time that is not a time.
    {"type": "DELAY", "config": {"until": "{{ client.name }}"}},
    # A null value, a template bomb.
    {"type": "ADD_NOTE", "config": {"body": "{{ client.phone }}"}},
    {"type": "ADD_NOTE", "config": {"body": BOMB}},
]


def test_one_registry_of_action_types() -> None:
    assert set(CHECKS) == set(HANDLERS) == set(ACTION_TYPES)


async def test_a_dry_run_fails_each_step_with_the_engines_own_error(tenant: TenantCtx) -> None:
    wf = await create_workflow(
        tenant, trigger_type="MANUAL", actions=[_continue(a) for a in FAILING_STEPS]
    )
    client = await make_client(tenant, name="Ada Lovelace", phone=None)
    dry = await tenant.http.post(
        f"/api/v1/workflows/{wf['id']}/test",
        json={"client_id": str(client["id"]), "event_type": "MANUAL"},
    )
    assert dry.status_code == 200, dry.text
    dry_errors = [step["error"] for step in dry.json()["actions"]]
    assert all(dry_errors), dry.json()["actions"]
    assert "refused" in dry_errors[0]
    assert "refused" in dry_errors[3]

    started = await tenant.http.post(
        f"/api/v1/workflows/{wf['id']}/trigger", json={"client_id": str(client["id"])}
    )
    assert started.status_code == 202, started.text
    execution = await _execution_of(tenant, started.json()["event_id"])
    done = await wait_status(tenant, execution, "COMPLETED", "FAILED")
    run_errors = {log["step_index"]: log["error_message"] for log in done["logs"]}
    assert [run_errors.get(i) for i in range(len(FAILING_STEPS))] == dry_errors


async def _execution_of(tenant: TenantCtx, event_id: str) -> str:
    from tests.engine.helpers import wait_for

    async def probe() -> list[Any]:
        response = await tenant.http.get("/api/v1/executions", params={"limit": 200})
        return [e for e in response.json()["items"] if e.get("event_id") == event_id]

    found = await wait_for(probe, what=f"the execution of event {event_id}")
    return str(found[0]["id"])


async def test_the_field_list_templates_are_checked_against_is_the_builders_own(
    tenant: TenantCtx,
) -> None:
    """templating.VARIABLE_FIELDS (what saving accepts as `client.x`, `event.x`, `workflow.x`)
    must name exactly what the one builder gives templates at run time."""
    from datetime import UTC, datetime
    from uuid import uuid4

    from app.clients.service import get_client_snapshot
    from app.workflows.templating import VARIABLE_FIELDS
    from app.workflows.variables import event_variables, workflow_variables

    client = await make_client(tenant)
    snapshot = await get_client_snapshot(tenant_id=tenant.tenant_id, client_id=client["id"])
    assert snapshot is not None
    event = event_variables(
        event_id=uuid4(), event_type="x", payload={}, depth=0, created_at=datetime.now(UTC)
    )
    workflow = workflow_variables(workflow_id=uuid4(), name="w", version=1)
    assert set(VARIABLE_FIELDS["client"]) == set(snapshot)
    assert set(VARIABLE_FIELDS["event"]) == set(event)
    assert set(VARIABLE_FIELDS["workflow"]) == set(workflow)
