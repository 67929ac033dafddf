"""WEBHOOK header values are credentials: encrypted at rest, "[redacted]" in every response.

Routes covered: create/update responses, GET /workflows/{id}, the list, the dry run, the audit
trail, and GET /executions/{id} (its recorded definition and its step input logs) — plus the
secret's ciphertext, which the execution detail used to show.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from typing import Any

from app.core.crypto import decrypt_secret
from app.core.sql import fetch, fetchval
from app.core.uow import unit_of_work
from tests.conftest import TenantCtx, client_for
from tests.dashboard.conftest import sign_in
from tests.engine.helpers import get_execution, wait_executions
from tests.helpers import add_member_key
from tests.webhooks.receiver import Receiver
from tests.workflows.conftest import error_paths, make_client

API = "/api/v1/workflows"
TOKEN = "Bearer tok-" + "7f3a9c" * 4
API_KEY = "key-" + "b41d" * 6
SECRET = "outbound-signing-secret-42"
REDACTED = "[redacted]"


def hook(url: str = "https://hooks.example.com/in", **config: Any) -> dict[str, Any]:
    return {"type": "WEBHOOK", "config": {"url": url, **config}}


def headers(**extra: str) -> dict[str, str]:
    return {"Authorization": TOKEN, "X-Api-Key": API_KEY, **extra}


async def stored_config(workflow_id: str, index: int = 0) -> dict[str, Any]:
    actions = json.loads(
        await fetchval("SELECT actions::text FROM workflows WHERE id = $1::uuid", workflow_id)
    )
    return dict(actions[index]["config"])


def assert_hidden(text: str) -> None:
    """No credential in clear, and no ciphertext of one either."""
    for secret in (TOKEN, API_KEY, "tok-7f3a", "key-b41d", SECRET):
        assert secret not in text, f"{secret!r} leaked"
    assert "enc:v1:" not in text


async def _create(tenant: TenantCtx, **body: Any) -> dict[str, Any]:
    data = {"name": f"hook-{os.urandom(3).hex()}", "trigger_type": "MANUAL", **body}
    response = await tenant.http.post(API, json=data)
    assert response.status_code == 201, response.text
    assert_hidden(response.text)
    return dict(response.json())


async def test_header_values_are_encrypted_and_redacted_everywhere_in_the_workflow_api(
    tenant: TenantCtx, base_url: str
) -> None:
    # A literal public address: the dry run runs the engine's address guard (no DNS needed).
    wf = await _create(
        tenant,
        actions=[
            hook(
                url="https://93.184.216.34/in",
                headers=headers(**{"X-Client": "{{ client.name }}"}),
                secret=SECRET,
            )
        ],
    )
    assert wf["actions"][0]["config"]["headers"] == {
        "Authorization": REDACTED,
        "X-Api-Key": REDACTED,
        "X-Client": REDACTED,
    }
    stored = await stored_config(wf["id"])
    assert all(v.startswith("enc:v1:") for v in stored["headers"].values())
    assert decrypt_secret(stored["headers"]["Authorization"]) == TOKEN
    assert decrypt_secret(stored["headers"]["X-Client"]) == "{{ client.name }}"

    client = await make_client(tenant)
    dry_body = {"client_id": str(client["id"])}
    member_key = await add_member_key(tenant)
    async with client_for(base_url, member_key) as member:
        for response in (
            await member.get(f"{API}/{wf['id']}"),
            await member.get(API),
            await member.post(f"{API}/{wf['id']}/test", json=dry_body),
        ):
            assert response.status_code in (200, 201), response.text
            assert_hidden(response.text)
    dry = await tenant.http.post(f"{API}/{wf['id']}/test", json=dry_body)
    assert dry.json()["actions"][0]["config"]["headers"]["X-Api-Key"] == REDACTED
    assert dry.json()["actions"][0]["error"] is None

    updated = await tenant.http.patch(f"{API}/{wf['id']}", json={"name": "renamed"})
    assert_hidden(updated.text)
    audit = await fetch(
        "SELECT changes::text AS c FROM audit_logs WHERE tenant = $1", tenant.tenant_id
    )
    assert audit
    for row in audit:
        assert_hidden(row["c"])


async def test_redacted_header_values_sent_back_keep_the_stored_ones(tenant: TenantCtx) -> None:
    wf = await _create(tenant, actions=[hook(headers=headers())])
    url = f"{API}/{wf['id']}"
    original = (await stored_config(wf["id"]))["headers"]

    # Another field changes: the headers stay exactly as stored.
    r = await tenant.http.patch(url, json={"trigger_config": {}, "description": "d"})
    assert r.status_code == 200, r.text
    assert (await stored_config(wf["id"]))["headers"] == original

    # The definition read from the API, sent back unchanged: no change, no new version.
    r = await tenant.http.patch(url, json={"actions": r.json()["actions"]})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    assert (await stored_config(wf["id"]))["headers"] == original

    # One header replaced (name matched case-insensitively for the kept one), one kept.
    r = await tenant.http.patch(
        url,
        json={"actions": [hook(headers={"authorization": REDACTED, "X-Api-Key": "key-new-1"})]},
    )
    assert r.status_code == 200, r.text
    now = (await stored_config(wf["id"]))["headers"]
    assert now["authorization"] == original["Authorization"]
    assert decrypt_secret(now["X-Api-Key"]) == "key-new-1"


async def test_bad_header_values_are_refused_with_their_path(tenant: TenantCtx) -> None:
    r = await tenant.http.post(
        API,
        json={
            "name": "x",
            "trigger_type": "MANUAL",
            "actions": [hook(headers={"X-New": REDACTED, "X-Forged": "enc:v1:abc"})],
        },
    )
    paths = error_paths(r)
    assert "no stored value" in paths["$.actions[0].config.headers.X-New"]
    assert "$.actions[0].config.headers.X-Forged" in paths
    r = await tenant.http.post(
        API,
        json={"name": "x", "trigger_type": "MANUAL", "actions": [hook(headers={"X": "v" * 9000})]},
    )
    assert "at most" in error_paths(r)["$.actions[0].config.headers.X"]


async def test_the_receiver_gets_the_value_and_the_execution_detail_shows_none(
    tenant: TenantCtx, session_receiver: Receiver, base_url: str, json_log: io.StringIO
) -> None:
    event = f"hdr.{os.urandom(3).hex()}"
    path = f"/headers/{tenant.tenant_id}"
    wf = await tenant.http.post(
        API,
        json={
            "name": "call out",
            "trigger_type": "CUSTOM",
            "trigger_config": {"event": event},
            "is_active": True,
            "actions": [
                hook(
                    f"{session_receiver.base}{path}",
                    headers=headers(**{"X-Event": "{{ event.type }}"}),
                    secret=SECRET,
                )
            ],
        },
    )
    assert wf.status_code == 201, wf.text
    posted = await tenant.http.post("/api/v1/events", json={"type": event, "payload": {}})
    assert posted.status_code in (201, 202), posted.text
    [execution] = await wait_executions(tenant, workflow_id=wf.json()["id"])
    for _ in range(200):
        if session_receiver.app.at(path):
            break
        await asyncio.sleep(0.05)
    [seen] = session_receiver.app.at(path)
    assert seen.headers["authorization"] == TOKEN
    assert seen.headers["x-api-key"] == API_KEY
    assert seen.headers["x-event"] == event

    detail = await get_execution(tenant, execution["id"])
    assert detail["status"] == "COMPLETED", detail
    config = detail["definition"]["actions"][0]["config"]
    assert config["secret"] == REDACTED
    assert config["headers"]["Authorization"] == REDACTED
    [log] = detail["logs"]
    assert log["input_data"]["headers"] == {
        "Authorization": REDACTED,
        "X-Api-Key": REDACTED,
        "X-Event": REDACTED,
    }
    response = await tenant.http.get(f"/api/v1/executions/{execution['id']}")
    assert_hidden(response.text)
    # Nor in any log line of the run (production's JSON lines).
    assert execution["id"] in json_log.getvalue()
    assert_hidden(json_log.getvalue())
    console = await sign_in(base_url, tenant.api_key)
    try:
        page = await console.http.get(f"/dashboard/executions/{execution['id']}")
    finally:
        await console.http.aclose()
    assert page.status_code == 200
    assert "X-Api-Key" in page.text
    assert_hidden(page.text)

    # Rows written before header values were encrypted hold them in clear: still redacted.
    async with unit_of_work():
        await fetch(
            """
            UPDATE workflow_execution_logs
            SET input_data = jsonb_set(input_data, '{headers}', $2::jsonb)
            WHERE execution = $1::uuid
            """,
            execution["id"],
            json.dumps({"Authorization": TOKEN}),
        )
    response = await tenant.http.get(f"/api/v1/executions/{execution['id']}")
    assert_hidden(response.text)
