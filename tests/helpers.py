"""Small helpers shared by every test folder (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any
from uuid import uuid4

import httpx

from app.core.config import PROJECT_ROOT
from tests.conftest import TenantCtx


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


async def add_member_key(tenant: TenantCtx) -> str:
    """A member user of the tenant, made through the Users and API-keys APIs; returns the key."""
    user = await tenant.http.post(
        "/api/v1/users", json={"email": f"member-{uuid4().hex[:8]}@example.com", "role": "member"}
    )
    assert user.status_code == 201, user.text
    key = await tenant.http.post("/api/v1/api-keys", json={"user_id": user.json()["id"]})
    assert key.status_code == 201, key.text
    return str(key.json()["key"])


def cli(
    *args: str, env: Mapping[str, str | None] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`crmflow <args>` in a child process, with this environment changed by env (None unsets)."""
    environ = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
