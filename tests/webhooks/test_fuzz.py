"""Schemathesis over the edges' routes: no 5xx and no answer outside the documented schema."""

from __future__ import annotations

import asyncio

from tests.conftest import TenantCtx
from tests.core.test_openapi_fuzz import fuzz
from tests.emails.conftest import make_email

PREFIXES = ("/api/v1/emails", "/api/v1/webhook-sources", "/api/v1/webhooks/")
# Two free-form string path parameters and a raw body: there is no "invalid" input to generate.
POSITIVE_ONLY = ("/api/v1/webhooks/",)


async def test_edges_routes_survive_schema_fuzzing(tenant: TenantCtx, base_url: str) -> None:
    await make_email(tenant)
    await tenant.http.post("/api/v1/webhook-sources", json={"source": "fuzz"})
    failures = await asyncio.to_thread(fuzz, base_url, tenant.api_key, PREFIXES, POSITIVE_ONLY)
    assert not failures, "\n\n".join(failures)
