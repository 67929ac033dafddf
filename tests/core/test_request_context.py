"""A request never runs inside state another request left behind.

uvicorn (like any asyncio server) starts the next request of a keep-alive connection in the
context its reader callback was registered in — and when a large body pauses and resumes reading,
that registration happens inside the previous request, inside its unit of work. Found by the
OpenAPI fuzz run: a GET after a large POST on the same connection inherited the POST's finished
transaction and answered 500 ("connection has been released back to the pool").
"""

from __future__ import annotations

from tests.conftest import TenantCtx

# More than uvicorn's read buffer high-water mark (64 KiB): reading pauses, then resumes from
# inside the handler's receive().
LARGE = 256 * 1024


async def test_a_request_after_a_large_write_on_the_same_connection_starts_clean(
    tenant: TenantCtx,
) -> None:
    client = (await tenant.http.post("/api/v1/clients", json={"name": "Keep-alive"})).json()
    for _ in range(3):
        # Any writing route reads its body inside the request's unit of work; a refused write
        # (422) and an accepted one leave the connection the same way.
        await tenant.http.post(
            "/api/v1/notes", json={"client_id": client["id"], "body": "x" * LARGE}
        )
        read = await tenant.http.get(f"/api/v1/clients/{client['id']}")
        assert read.status_code == 200, read.text
        write = await tenant.http.post(
            "/api/v1/notes", json={"client_id": client["id"], "body": "after"}
        )
        assert write.status_code == 201, write.text
