"""Schemathesis over the edges' routes: no 5xx and no answer outside the documented schema."""

from __future__ import annotations

import asyncio
import traceback

import requests
import schemathesis
from schemathesis import GenerationMode

from tests.conftest import TenantCtx
from tests.core.test_openapi_fuzz import run_operation
from tests.emails.conftest import make_email

PREFIXES = ("/api/v1/emails", "/api/v1/webhook-sources", "/api/v1/webhooks/")
# Two free-form string path parameters and a raw body: there is no "invalid" input to generate.
POSITIVE_ONLY = ("/api/v1/webhooks/",)


def fuzz(base_url: str, api_key: str) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
    schema.config.generation.update(allow_x00=False)
    headers = {"Authorization": f"Bearer {api_key}"}
    session = requests.Session()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(PREFIXES):
            continue
        modes = [GenerationMode.POSITIVE]
        if not operation.path.startswith(POSITIVE_ONLY):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            try:
                run_operation(operation, mode, base_url, headers, session)
            except Exception:
                failures.append(f"{operation.label} [{mode.value}]\n{traceback.format_exc()}")
    return failures


async def test_edges_routes_survive_schema_fuzzing(tenant: TenantCtx, base_url: str) -> None:
    await make_email(tenant)
    await tenant.http.post("/api/v1/webhook-sources", json={"source": "fuzz"})
    failures = await asyncio.to_thread(fuzz, base_url, tenant.api_key)
    assert not failures, "\n\n".join(failures)
