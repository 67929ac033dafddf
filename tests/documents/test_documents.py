"""Documents: multipart upload with a size limit, recorded hash and type, download, events."""

from __future__ import annotations

import hashlib

import pytest

from app.core.config import get_settings
from app.core.sql import fetch
from tests.conftest import TenantCtx
from tests.helpers import all_pages, assert_problem, make_client


async def _event_types(client_id: str) -> list[str]:
    rows = await fetch("SELECT type FROM events WHERE client = $1 ORDER BY created_at", client_id)
    return [r["type"] for r in rows]


async def test_upload_records_type_hash_and_event(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http)
    content = b"%PDF-1.4 contract " * 100
    response = await tenant.http.post(
        f"/api/v1/clients/{client['id']}/documents",
        files={"file": ("../../etc/contract.pdf", content, "application/pdf")},
    )
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["filename"] == "contract.pdf"
    assert doc["content_type"] == "application/pdf"
    assert doc["size_bytes"] == len(content)
    assert doc["sha256"] == hashlib.sha256(content).hexdigest()
    assert doc["client_id"] == client["id"]

    stored = list(get_settings().storage_dir.rglob(doc["id"]))
    assert len(stored) == 1
    assert stored[0].read_bytes() == content

    download = await tenant.http.get(f"/api/v1/documents/{doc['id']}/content")
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"].startswith("application/pdf")

    events = await fetch(
        "SELECT payload FROM events WHERE client = $1 AND type = 'DOCUMENT_UPLOADED'",
        client["id"],
    )
    assert len(events) == 1
    assert events[0]["payload"]["sha256"] == doc["sha256"]

    listed = await all_pages(tenant.http, "/api/v1/documents", client=client["id"])
    assert [d["id"] for d in listed] == [doc["id"]]
    assert (await tenant.http.get(f"/api/v1/documents/{doc['id']}")).json() == doc

    deleted = await tenant.http.delete(f"/api/v1/documents/{doc['id']}")
    assert deleted.status_code == 204
    assert not stored[0].exists()
    assert_problem(await tenant.http.get(f"/api/v1/documents/{doc['id']}/content"), 404)


async def test_document_list_filters_by_client(tenant: TenantCtx) -> None:
    a = await make_client(tenant.http, name="A")
    b = await make_client(tenant.http, name="B")
    for target in (a, a, b):
        r = await tenant.http.post(
            f"/api/v1/clients/{target['id']}/documents", files={"file": ("x.txt", b"x")}
        )
        assert r.status_code == 201
    assert len(await all_pages(tenant.http, "/api/v1/documents", client=a["id"], limit=1)) == 2
    assert len(await all_pages(tenant.http, "/api/v1/documents", client=b["id"])) == 1


async def test_too_large_upload_is_413_and_leaves_nothing(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http)
    limit = get_settings().upload_max_bytes
    for size in (limit + 1, limit + 200 * 1024):
        response = await tenant.http.post(
            f"/api/v1/clients/{client['id']}/documents",
            files={"file": ("big.bin", b"\0" * size, "application/octet-stream")},
        )
        assert_problem(response, 413)
    assert await _event_types(client["id"]) == ["CLIENT_CREATED"]
    assert await all_pages(tenant.http, "/api/v1/documents", client=client["id"]) == []
    tenant_dir = get_settings().storage_dir / str(tenant.tenant_id)
    assert not tenant_dir.exists() or list(tenant_dir.iterdir()) == []


async def test_exactly_the_limit_is_accepted(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http)
    limit = get_settings().upload_max_bytes
    response = await tenant.http.post(
        f"/api/v1/clients/{client['id']}/documents", files={"file": ("max.bin", b"a" * limit)}
    )
    assert response.status_code == 201, response.text
    assert response.json()["size_bytes"] == limit


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/json", b'{"file": "x"}'), ("text/plain", b"hello"), (None, b"raw")],
)
async def test_non_multipart_upload_is_415(
    tenant: TenantCtx, content_type: str | None, body: bytes
) -> None:
    client = await make_client(tenant.http)
    headers = {"content-type": content_type} if content_type else {}
    response = await tenant.http.post(
        f"/api/v1/clients/{client['id']}/documents", content=body, headers=headers
    )
    assert_problem(response, 415)


async def test_multipart_without_file_part_is_422(tenant: TenantCtx) -> None:
    client = await make_client(tenant.http)
    response = await tenant.http.post(
        f"/api/v1/clients/{client['id']}/documents",
        files={"other": ("x.txt", b"x")},
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["path"] == "$.file"


async def test_upload_to_unknown_client_is_404_and_stores_nothing(tenant: TenantCtx) -> None:
    response = await tenant.http.post(
        "/api/v1/clients/00000000-0000-4000-8000-000000000000/documents",
        files={"file": ("x.txt", b"x")},
    )
    assert_problem(response, 404)
    tenant_dir = get_settings().storage_dir / str(tenant.tenant_id)
    assert not tenant_dir.exists() or list(tenant_dir.iterdir()) == []


async def test_downloads_are_never_sniffed_or_rendered(tenant: TenantCtx) -> None:
    """Issue 8, item 7: an upload holding HTML is served as an attachment, nosniff, sandboxed."""
    client = await make_client(tenant.http)
    page = b"<html><script>alert(document.cookie)</script></html>"
    response = await tenant.http.post(
        f"/api/v1/clients/{client['id']}/documents",
        files={"file": ("note.txt", page, "text/plain")},
    )
    assert response.status_code == 201, response.text
    download = await tenant.http.get(f"/api/v1/documents/{response.json()['id']}/content")
    assert download.status_code == 200
    assert download.content == page
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in download.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/health", 200),
        ("/api/v1/clients", 200),
        ("/api/v1/clients/not-a-uuid", 422),
        ("/api/v1/no-such-route", 404),
        ("/dashboard/static/console.css", 200),
    ],
)
async def test_every_response_carries_nosniff(tenant: TenantCtx, path: str, status: int) -> None:
    response = await tenant.http.get(path)
    assert response.status_code == status, response.text
    assert response.headers["x-content-type-options"] == "nosniff"
