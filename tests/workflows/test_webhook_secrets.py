"""WEBHOOK secrets are encrypted at rest, never returned, and kept across edits."""

from __future__ import annotations

import json

from app.core.crypto import decrypt_secret
from app.core.sql import fetch, fetchval
from app.webhooks.standard import load_keyring
from tests.conftest import TenantCtx
from tests.workflows.conftest import create_workflow, email_action, error_paths

API = "/api/v1/workflows"


def hook(**config):
    return {"type": "WEBHOOK", "config": {"url": "https://hooks.example.com/in", **config}}


async def stored_actions(workflow_id: str) -> list[dict]:
    return json.loads(
        await fetchval("SELECT actions::text FROM workflows WHERE id = $1", workflow_id)
    )


async def test_secret_is_encrypted_and_redacted(tenant: TenantCtx):
    wf = await create_workflow(tenant, actions=[email_action(), hook(secret="s3cret-value")])
    assert wf["actions"][1]["config"]["secret"] == "[redacted]"
    assert "s3cret-value" not in json.dumps(wf)
    stored = (await stored_actions(wf["id"]))[1]["config"]["secret"]
    assert stored.startswith("enc:v1:")
    assert decrypt_secret(stored) == "s3cret-value"

    listing = await tenant.http.get(API)
    assert "s3cret-value" not in listing.text
    audit = await fetch(
        "SELECT changes::text AS c FROM audit_logs WHERE tenant = $1", tenant.tenant_id
    )
    assert all("s3cret-value" not in r["c"] and stored not in r["c"] for r in audit)

    dry = await tenant.http.post(f"{API}/{wf['id']}/test", json={})
    assert dry.json()["actions"][1]["config"]["secret"] == "[redacted]"


async def test_secret_survives_edits(tenant: TenantCtx):
    wf = await create_workflow(tenant, actions=[hook(secret="first")])
    url = f"{API}/{wf['id']}"
    original = (await stored_actions(wf["id"]))[0]["config"]["secret"]

    # Other fields change; the redacted placeholder keeps the stored secret as it was.
    r = await tenant.http.patch(url, json={"trigger_config": {"status": "LEAD"}})
    assert r.status_code == 200, r.text
    assert (await stored_actions(wf["id"]))[0]["config"]["secret"] == original
    r = await tenant.http.patch(url, json={"actions": r.json()["actions"]})
    assert r.json()["version"] == 2  # sending the definition back unchanged is no change
    assert (await stored_actions(wf["id"]))[0]["config"]["secret"] == original

    r = await tenant.http.patch(url, json={"actions": [hook(secret="second")]})
    assert r.json()["version"] == 3
    keyring = load_keyring(decrypt_secret((await stored_actions(wf["id"]))[0]["config"]["secret"]))
    # A new secret replaces the old one, which keeps signing during the grace period.
    assert keyring.current == "second"
    assert keyring.active() == ["second", "first"]

    r = await tenant.http.patch(url, json={"actions": [hook()]})
    assert "secret" not in (await stored_actions(wf["id"]))[0]["config"]


async def test_bad_secrets_are_rejected(tenant: TenantCtx):
    wf = await create_workflow(tenant, actions=[email_action()])
    url = f"{API}/{wf['id']}"
    r = await tenant.http.patch(url, json={"actions": [hook(secret="[redacted]")]})
    assert "$.actions[0].config.secret" in error_paths(r)
    r = await tenant.http.patch(url, json={"actions": [email_action(), hook(secret="")]})
    assert "$.actions[1].config.secret" in error_paths(r)
    r = await tenant.http.post(
        API, json={"name": "x", "trigger_type": "MANUAL", "actions": [hook(secret="enc:v1:forged")]}
    )
    assert "$.actions[0].config.secret" in error_paths(r)
