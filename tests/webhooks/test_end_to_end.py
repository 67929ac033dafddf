"""Signed in, signed out: an inbound delivery runs a workflow whose WEBHOOK step calls out."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import httpx
import msgspec

from app.core.sql import fetchrow
from tests.conftest import TenantCtx
from tests.webhooks.conftest import signed
from tests.webhooks.receiver import Receiver


async def test_inbound_event_triggers_a_signed_outbound_webhook(
    tenant: TenantCtx,
    anon: httpx.AsyncClient,
    source: dict[str, Any],
    session_receiver: Receiver,
) -> None:
    outbound_secret = "receiver-side-secret-123"
    path = f"/deal-won/{tenant.tenant_id}"
    workflow = await tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": "Tell the ERP",
            "trigger_type": "CUSTOM",
            "trigger_config": {"event": "deal.won"},
            "is_active": True,
            "actions": [
                {
                    "type": "WEBHOOK",
                    "config": {
                        "url": f"{session_receiver.base}{path}",
                        "body": {"deal": "{{ event.payload.deal }}"},
                        "secret": outbound_secret,
                    },
                }
            ],
        },
    )
    assert workflow.status_code == 201, workflow.text
    # The secret is stored encrypted and never shown again.
    shown = workflow.json()["actions"][0]["config"]["secret"]
    assert shown != outbound_secret
    stored = await fetchrow(
        "SELECT actions::text AS actions FROM workflows WHERE id = $1::uuid", workflow.json()["id"]
    )
    assert stored is not None
    assert outbound_secret not in stored["actions"]

    raw, headers = signed(source["secret"], {"event": "deal.won", "data": {"deal": "D-42"}})
    response = await anon.post(source["path"], content=raw, headers=headers)
    assert response.status_code == 202, response.text

    for _ in range(300):
        if session_receiver.app.at(path):
            break
        await asyncio.sleep(0.05)
    [seen] = session_receiver.app.at(path)
    assert msgspec.json.decode(seen.body) == {"deal": "D-42"}
    timestamp = seen.headers["x-crmflow-timestamp"]
    expected = hmac.new(
        outbound_secret.encode(), timestamp.encode() + b"." + seen.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(seen.headers["x-crmflow-signature"], f"sha256={expected}")
    execution_id, step = seen.headers["x-crmflow-delivery"].rsplit(":", 1)
    assert step == "0"
    execution = await fetchrow(
        "SELECT workflow FROM workflow_executions WHERE id = $1::uuid", execution_id
    )
    assert execution is not None
    assert str(execution["workflow"]) == workflow.json()["id"]
    # The step log records the call, never the secret (not even encrypted).
    for _ in range(100):
        log = await fetchrow(
            "SELECT input_data::text AS input, output_data::text AS output "
            "FROM workflow_execution_logs WHERE execution = $1::uuid",
            execution_id,
        )
        if log is not None:
            break
        await asyncio.sleep(0.05)
    assert log is not None
    assert outbound_secret not in log["input"]
    assert "enc:v1:" not in log["input"]
    assert '"status": 200' in log["output"]
