"""The key → principal cache: a revocation (here or in another process) empties it at once."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from app.core.auth import hash_api_key
from app.core.auth_cache import CACHE, CHANNEL
from tests.conftest import TenantCtx


async def _key(tenant: TenantCtx, base_url: str) -> tuple[str, str, httpx.AsyncClient]:
    created = await tenant.http.post("/api/v1/api-keys", json={"name": "cached"})
    assert created.status_code == 201, created.text
    body = created.json()
    http = httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {body['key']}"}, timeout=30
    )
    return body["id"], body["key"], http


async def test_a_revoked_key_is_refused_on_the_next_request(
    tenant: TenantCtx, base_url: str
) -> None:
    key_id, plaintext, http = await _key(tenant, base_url)
    async with http:
        for _ in range(3):
            assert (await http.get("/api/v1/clients")).status_code == 200
        assert CACHE.get(hash_api_key(plaintext)) is not None  # served from the cache now
        revoked = await tenant.http.post(f"/api/v1/api-keys/{key_id}/revoke")
        assert revoked.status_code == 200
        assert (await http.get("/api/v1/clients")).status_code == 401


async def test_a_deactivated_user_is_refused_on_the_next_request(
    tenant: TenantCtx, base_url: str
) -> None:
    user = await tenant.http.post(
        "/api/v1/users", json={"email": "cached@example.test", "role": "admin"}
    )
    key = await tenant.http.post(
        "/api/v1/api-keys", json={"name": "u", "user_id": user.json()["id"]}
    )
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key.json()['key']}"}, timeout=30
    ) as http:
        assert (await http.get("/api/v1/clients")).status_code == 200
        assert (await http.get("/api/v1/clients")).status_code == 200
        off = await tenant.http.patch(
            f"/api/v1/users/{user.json()['id']}", json={"is_active": False}
        )
        assert off.status_code == 200, off.text
        assert (await http.get("/api/v1/clients")).status_code == 401


async def test_a_revocation_in_another_process_empties_the_cache(
    tenant: TenantCtx, base_url: str, database_url: str
) -> None:
    key_id, plaintext, http = await _key(tenant, base_url)
    async with http:
        assert (await http.get("/api/v1/clients")).status_code == 200
        assert CACHE.get(hash_api_key(plaintext)) is not None
        generation = CACHE.generation
        # Another API process revokes: its own connection, its own transaction, its NOTIFY.
        other = await asyncpg.connect(database_url)
        try:
            async with other.transaction():
                await other.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", key_id)
                await other.execute("SELECT pg_notify($1, '')", CHANNEL)
        finally:
            await other.close()
        for _ in range(500):
            if CACHE.generation != generation:
                break
            await asyncio.sleep(0.01)
        assert CACHE.generation != generation, "the notification never arrived"
        assert CACHE.get(hash_api_key(plaintext)) is None
        assert (await http.get("/api/v1/clients")).status_code == 401
