"""Helpers for the workflows tests: members, second tenants, clients, valid definitions."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx

from tests.conftest import TenantCtx


def email_action(**config: Any) -> dict[str, Any]:
    base = {"to": "{{ client.email }}", "subject": "Hi {{ client.name }}", "body": "Welcome"}
    return {"type": "SEND_EMAIL", "config": {**base, **config}}


def workflow_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Welcome {uuid4().hex[:6]}",
        "trigger_type": "CLIENT_CREATED",
        "trigger_config": {},
        "actions": [email_action()],
    }
    body.update(overrides)
    return body


async def create_workflow(tenant: TenantCtx, **overrides: Any) -> dict[str, Any]:
    response = await tenant.http.post("/api/v1/workflows", json=workflow_body(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def make_client(tenant: TenantCtx, **fields: Any) -> dict[str, Any]:
    """A client created through the clients service (as the API would)."""
    from app.clients.service import create_client
    from app.core.uow import unit_of_work

    data = {"name": "Ada Lovelace", "email": "ada@example.com", **fields}
    async with unit_of_work():
        return await create_client(tenant_id=tenant.tenant_id, actor_id=tenant.admin_id, data=data)


def error_paths(response: httpx.Response) -> dict[str, str]:
    """{path: message} of a 422 problem response."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["path"]: e["message"] for e in response.json()["errors"]}
