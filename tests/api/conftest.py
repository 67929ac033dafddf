"""Fixtures for the API tests: a member of the tenant, a second tenant, small helpers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import TenantCtx


@pytest.fixture
async def member(tenant: TenantCtx, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A member user of `tenant` with a key, both created through the API by the admin."""
    suffix = os.urandom(3).hex()
    user = await tenant.http.post(
        "/api/v1/users", json={"email": f"member-{suffix}@example.test", "role": "member"}
    )
    assert user.status_code == 201, user.text
    key = await tenant.http.post(
        "/api/v1/api-keys", json={"name": "member key", "user_id": user.json()["id"]}
    )
    assert key.status_code == 201, key.text
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key.json()['key']}"}, timeout=30
    ) as http:
        yield http


@pytest.fixture
async def other(base_url: str) -> AsyncIterator[TenantCtx]:
    """A second, unrelated tenant."""
    from app.core.uow import unit_of_work
    from app.tenants.service import create_tenant

    suffix = os.urandom(4).hex()
    async with unit_of_work():
        boot = await create_tenant(name=f"Other {suffix}", admin_email=f"admin@o{suffix}.test")
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {boot.api_key}"}, timeout=30
    ) as http:
        yield TenantCtx(
            tenant_id=boot.tenant_id, admin_id=boot.admin_user_id, api_key=boot.api_key, http=http
        )


async def make_client(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Ada Lovelace", **fields}
    response = await http.post("/api/v1/clients", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def all_pages(http: httpx.AsyncClient, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a listing, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await http.get(url, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body
