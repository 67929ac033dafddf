"""One log format with correlation ids: a request's id reaches the engine's lines for its work."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from app.core.config import get_settings
from app.core.logging import configure_from_settings, configure_logging
from tests.conftest import TenantCtx
from tests.engine.helpers import create_workflow, on_client_created, unique, wait_executions
from tests.operations.helpers import records


async def test_request_id_travels_from_the_api_into_the_engine(
    tenant: TenantCtx, json_log: io.StringIO
) -> None:
    workflow = await create_workflow(
        tenant, trigger_type="CLIENT_CREATED", actions=[{"type": "ADD_TAG", "config": {"tag": "a"}}]
    )
    request_id = unique("req")
    response = await tenant.http.post(
        "/api/v1/clients", json={"name": "Ada"}, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == request_id
    [execution] = await wait_executions(tenant, count=1, workflow_id=workflow["id"])
    assert execution["status"] == "COMPLETED"

    lines = records(json_log)
    mine = [r for r in lines if r.get("request_id") == request_id]
    [api_line] = [r for r in mine if r["event"] == "http.request"]
    assert api_line["path"] == "/api/v1/clients"
    assert api_line["status"] == 201
    assert api_line["tenant_id"] == str(tenant.tenant_id)
    [done] = [r for r in mine if r["event"] == "engine.execution_completed"]
    assert done["execution_id"] == execution["id"]
    assert done["level"] == "info"
    assert done["tenant_id"] == str(tenant.tenant_id)
    assert done["event_id"] == execution["event_id"]
    assert done["job_id"]
    assert all("timestamp" in r and "level" in r for r in lines)
    # The API key the request carried appears nowhere.
    assert tenant.api_key not in json_log.getvalue()


async def test_generated_request_id_is_echoed(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/v1/clients")
    assert response.status_code == 401
    assert len(response.headers["x-request-id"]) == 32
    # A malformed one is replaced, not echoed into logs and headers.
    bad = await anon.get("/health", headers={"X-Request-ID": "a b\tc"})
    assert bad.headers["x-request-id"] != "a b\tc"


async def test_levels_mean_something(tenant: TenantCtx, json_log: io.StringIO) -> None:
    workflow = await on_client_created(
        tenant,
        actions=[{"type": "WEBHOOK", "config": {"url": "http://10.255.255.1/hook"}}],
    )
    response = await tenant.http.post("/api/v1/clients", json={"name": "Bob"})
    request_id = response.headers["x-request-id"]
    [execution] = await wait_executions(tenant, count=1, workflow_id=workflow["id"])
    assert execution["status"] == "FAILED"
    mine = [r for r in records(json_log) if r.get("execution_id") == execution["id"]]
    levels = {r["event"]: r["level"] for r in mine}
    assert levels["engine.step_failed"] == "warning"
    assert levels["engine.execution_failed"] == "error"
    assert all(r["request_id"] == request_id for r in mine)


def test_secrets_never_appear() -> None:
    from app.core.logging import redact_secrets

    line = redact_secrets(
        None,
        "info",
        {
            "event": "calling https://u:hunter2@erp.test/hook?token=abc123&x=1",
            "smtp_password": "pw",
            "api_key": "crm_abcdefghijklmnop",
            "detail": "Authorization: Bearer crm_abcdefghijklmnop, secret whsec_QUJDREVGR0hJSg==",
        },
    )
    text = str(line)
    for secret in ("hunter2", "abc123", "pw'", "crm_abcdefghijklmnop", "whsec_QUJD"):
        assert secret not in text, text
    assert "x=1" in text


async def test_sweep_heartbeats_are_debug() -> None:
    """A sweep tick that handed work on logs at DEBUG: invisible at INFO, present at DEBUG."""
    from app.worker.sweeps import Sweep, Sweeper

    async def tick() -> dict[str, Any]:
        return {"enqueued": 1}

    sweeper = Sweeper([], queue_name="heartbeat-test")
    for level, expected in (("INFO", []), ("DEBUG", ["debug"])):
        buffer = io.StringIO()
        configure_logging(level, json=True, stream=buffer)
        try:
            await sweeper._run(Sweep("engine.dispatch_sweep", 5, tick))
        finally:
            configure_from_settings(get_settings())
        done = [r for r in records(buffer) if r["event"] == "worker.sweep_done"]
        assert [r["level"] for r in done] == expected, done


@pytest.mark.parametrize(
    ("log_format", "environment", "json_lines"),
    [
        ("auto", "production", True),
        ("auto", "development", False),
        ("json", "development", True),
        ("console", "production", False),
    ],
)
def test_one_format_per_process_for_every_library(
    log_format: str, environment: str, json_lines: bool
) -> None:
    """Our lines and the standard library's (uvicorn, SAQ …) come out in the same format: JSON
    lines in production, readable `key=value` lines in development, with the same ids."""
    import logging

    import structlog

    from app.core.logging import bind_log_context, use_json

    assert use_json(log_format, environment) is json_lines
    buffer = io.StringIO()
    configure_logging("INFO", json=json_lines, stream=buffer)
    try:
        bind_log_context(request_id="req-1", tenant_id="t-1")
        structlog.get_logger("crmflow.test").info("ours.line", execution_id="x-1")
        logging.getLogger("saq").warning("a library line")
    finally:
        structlog.contextvars.clear_contextvars()
        configure_from_settings(get_settings())
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 2, lines
    if json_lines:
        ours, library = (json.loads(line) for line in lines)
        assert ours["event"] == "ours.line"
        assert ours["execution_id"] == "x-1"
        assert library["event"] == "a library line"
        assert library["level"] == "warning"
        for record in (ours, library):
            assert (record["request_id"], record["tenant_id"]) == ("req-1", "t-1")
            assert "timestamp" in record
    else:
        for line in lines:
            assert not line.startswith("{"), line
            assert "request_id=req-1" in line
            assert "tenant_id=t-1" in line
        assert "ours.line" in lines[0]
        assert "execution_id=x-1" in lines[0]
        assert "a library line" in lines[1]
        assert "warning" in lines[1]
