"""Helpers for the workflows tests: members, second tenants, clients, valid definitions."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

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


async def add_member_key(tenant: TenantCtx) -> str:
    """A member user of the tenant, made through the Users and API-keys APIs; returns the key."""
    user = await tenant.http.post(
        "/api/v1/users", json={"email": f"member-{uuid4().hex[:8]}@example.com", "role": "member"}
    )
    assert user.status_code == 201, user.text
    key = await tenant.http.post("/api/v1/api-keys", json={"user_id": user.json()["id"]})
    assert key.status_code == 201, key.text
    return str(key.json()["key"])


@pytest.fixture
async def member(tenant: TenantCtx, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client authenticated as a member (not admin) of `tenant`."""
    key = await add_member_key(tenant)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        yield http


@pytest.fixture
async def other_tenant(base_url: str) -> AsyncIterator[TenantCtx]:
    """A second, unrelated tenant."""
    from app.core.uow import unit_of_work
    from app.tenants.service import create_tenant

    suffix = os.urandom(4).hex()
    async with unit_of_work():
        boot = await create_tenant(name=f"Other {suffix}", admin_email=f"admin@{suffix}.test")
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {boot.api_key}"}, timeout=30
    ) as http:
        yield TenantCtx(
            tenant_id=boot.tenant_id,
            admin_id=boot.admin_user_id,
            api_key=boot.api_key,
            http=http,
        )


def error_paths(response: httpx.Response) -> dict[str, str]:
    """{path: message} of a 422 problem response."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["path"]: e["message"] for e in response.json()["errors"]}
