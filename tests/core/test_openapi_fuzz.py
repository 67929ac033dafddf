"""Property-based run of the OpenAPI schema (schemathesis) against the live app.

The app is served in the suite's event loop, so schemathesis (blocking `requests`) runs in a
worker thread while the loop keeps serving. Examples per operation are bounded so the run stays
well under a minute. Every answer must be non-5xx and conform to the schema (status code,
content type, body).
"""

from __future__ import annotations

import asyncio
import os
import traceback
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from app.workflows.conditions import MAX_LEAVES
from tests.conftest import TenantCtx

PREFIXES = (
    "/api/v1/users",
    "/api/v1/api-keys",
    "/api/v1/clients",
    "/api/v1/documents",
    "/api/v1/notes",
    "/api/v1/tasks",
    "/api/v1/events",
    "/api/v1/audit-logs",
    "/api/v1/workflows",
    "/api/v1/executions",
    "/api/v1/emails",
    "/api/v1/webhook-sources",
)
# Workflow definitions are fuzzed like every other body: their schema (app/workflows/language.py)
# states the save's rules where JSON Schema can, so a schema-valid workflow is one the save takes.
# Bounded for the suite (~30 s); FUZZ_SCALE=10 FUZZ_RANDOM=1 for a deeper, unseeded local run,
# FUZZ_ALL_ROUTES=1 to include every feature's routes.
_SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
MAX_EXAMPLES = {GenerationMode.POSITIVE: 25 * _SCALE, GenerationMode.NEGATIVE: 15 * _SCALE}
_RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
if os.environ.get("FUZZ_ALL_ROUTES") == "1":
    PREFIXES = ("/",)


def acceptance_except_unknown_references(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance, but a well-formed id naming no row of this tenant is a 422.

    The schema says "a UUID"; only the database knows whether that UUID is one of the tenant's
    clients or users, and such a reference is refused with 422 on its field (README, ids rule).
    Likewise a batch item without `name` is an update only if its external_id is already known,
    and JSON Schema cannot say "external_id unique across the items" (uniqueItems is whole-item),
    nor "created_before after created_after" (an empty time range is refused on its field),
    nor "at most 100 comparisons in one conditions tree" (a count over the whole tree; its depth
    limit is in the schema).
    """
    if response.status_code == 422:
        errors = response.json().get("errors") or []
        if errors and all(_beyond_json_schema(case.path, e) for e in errors):
            return None
    return positive_data_acceptance(ctx, response, case)


def _beyond_json_schema(path: str, error: dict[str, Any]) -> bool:
    message = str(error.get("message", ""))
    if message.startswith("unknown ") or message == "must be after created_after":
        return True
    if message == f"conditions may hold at most {MAX_LEAVES} comparisons":
        return True
    if path != "/api/v1/clients/batch":
        return False
    return message == "Object missing required field `name`" or message.startswith("repeats item ")


def run_operation(
    operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str], session: Any
) -> None:
    @settings(
        max_examples=MAX_EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=not _RANDOM,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        if mode is GenerationMode.POSITIVE and case.query:
            # A cursor is opaque: only one the server issued is valid (tested apart).
            case.query.pop("cursor", None)
        # Always replaced by the reference-aware version.
        excluded = [positive_data_acceptance]
        additional = [acceptance_except_unknown_references]
        if mode is GenerationMode.NEGATIVE and case.method == "GET":
            # A query string carries only text: "tag=0.01" or "created_after=250197" (a Unix
            # time) are valid strings of the declared types, whatever schemathesis meant by them.
            excluded.append(negative_data_rejection)
        case.call_and_validate(
            base_url=base_url,
            session=session,
            headers=headers,
            excluded_checks=excluded,
            additional_checks=additional if mode is GenerationMode.POSITIVE else [],
        )

    check()


def fuzz(
    base_url: str, api_key: str, prefixes: tuple[str, ...], positive_only: tuple[str, ...] = ()
) -> list[str]:
    """Run every selected operation in both modes (only the positive one for the paths under
    positive_only); the failures as readable text."""
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
    # PostgreSQL cannot store NUL in text or jsonb; the API answers 422 for it (tested apart).
    schema.config.generation.update(allow_x00=False)
    headers = {"Authorization": f"Bearer {api_key}"}
    session = requests.Session()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(prefixes):
            continue
        for mode in MAX_EXAMPLES:
            if mode is GenerationMode.NEGATIVE and operation.path.startswith(positive_only):
                continue
            try:
                run_operation(operation, mode, base_url, headers, session)
            # FailureGroup (schemathesis' findings) is a BaseExceptionGroup, not an Exception:
            # caught here too, or the first failing operation would hide all the others.
            except (Exception, FailureGroup):  # every operation runs; failures reported together
                failures.append(f"{operation.label} [{mode.value}]\n{traceback.format_exc()}")
    return failures


async def test_schema_fuzzing_finds_no_server_error_or_schema_violation(
    tenant: TenantCtx, base_url: str
) -> None:
    # Some rows to hit, so GET/PATCH/DELETE reach more than 404s.
    client = (await tenant.http.post("/api/v1/clients", json={"name": "Fuzz"})).json()
    await tenant.http.post("/api/v1/notes", json={"client_id": client["id"], "body": "n"})
    failures = await asyncio.to_thread(fuzz, base_url, tenant.api_key, PREFIXES)
    assert not failures, "\n\n".join(failures)
