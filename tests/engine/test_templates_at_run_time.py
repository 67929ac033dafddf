"""What templates do inside a real run: bombs and null values fail the step with a clear
error, dicts and lists are written as JSON."""

from __future__ import annotations

from uuid import UUID

from app.core.sql import fetch
from tests.conftest import TenantCtx
from tests.engine.conftest import Backend
from tests.engine.helpers import (
    create_client,
    failing_first_step,
    get_execution,
    on_client_created,
    wait_executions,
)


async def test_a_template_bomb_fails_its_step(backend: Backend, tenant: TenantCtx) -> None:
    wf = await failing_first_step(tenant, "{{ (9**64**64**64**64) > 1 }}")
    client = await create_client(tenant)
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert execution["status"] == "FAILED", execution
    detail = await get_execution(tenant, execution["id"])
    message = detail["error_message"]
    assert message.startswith("step 0 (ADD_NOTE) failed: template error in body: ")
    assert "template limit exceeded" in message
    assert "MAX_INT_BITS" in message
    [log] = detail["logs"]
    assert (log["status"], log["attempt"]) == ("FAILED", 1)  # not retried: it cannot pass
    assert await fetch("SELECT 1 FROM notes WHERE client = $1", UUID(client["id"])) == []


async def test_a_null_field_fails_the_step_naming_it(backend: Backend, tenant: TenantCtx) -> None:
    wf = await on_client_created(
        tenant,
        actions=[
            {
                "type": "SEND_EMAIL",
                "config": {"to": "{{ client.email }}", "subject": "Hi", "body": "Welcome"},
            }
        ],
    )
    client = await create_client(tenant)  # no email
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert execution["status"] == "FAILED", execution
    detail = await get_execution(tenant, execution["id"])
    assert "template error in to: 'client.email' is null" in detail["error_message"]
    assert await fetch("SELECT 1 FROM emails WHERE client = $1", UUID(client["id"])) == []


async def test_notes_print_json_and_defaults_never_none(
    backend: Backend, tenant: TenantCtx
) -> None:
    wf = await on_client_created(
        tenant,
        actions=[
            {
                "type": "ADD_NOTE",
                "config": {
                    "body": "email={{ client.email | default('none given') }} "
                    "fields={{ client.custom_fields }} tags={{ client.tags }}"
                },
            }
        ],
    )
    client = await create_client(tenant, tags=["vip"], custom_fields={"plan": {"tier": "gold"}})
    [execution] = await wait_executions(tenant, workflow_id=wf["id"])
    assert execution["status"] == "COMPLETED", execution
    [note] = await fetch("SELECT body FROM notes WHERE client = $1", UUID(client["id"]))
    assert note["body"] == 'email=none given fields={"plan": {"tier": "gold"}} tags=["vip"]'
    assert "None" not in note["body"]
