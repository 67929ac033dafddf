"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response

from app.core.db import RETRY_AFTER_S, database_lost, is_database_unavailable
from app.core.uow import get_engine

READY_TIMEOUT_S = 2.0


class HealthStatus(msgspec.Struct):
    status: str


@get("/health", exclude_from_auth=True, tags=["health"], summary="Process is alive")
async def health() -> HealthStatus:
    return HealthStatus(status="ok")


@get(
    "/ready",
    exclude_from_auth=True,
    tags=["health"],
    summary="Database (and queue) reachable",
    responses={503: ResponseSpec(data_container=HealthStatus, description="Not ready")},
)
async def ready(request: Request[Any, Any, Any]) -> Response[HealthStatus]:
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    try:
        # Bounded: a probe must answer even when connecting to the database hangs.
        async with asyncio.timeout(READY_TIMEOUT_S):
            await get_engine().run_ddl("SELECT 1")
    except Exception as exc:
        if is_database_unavailable(exc) or isinstance(exc, TimeoutError):
            database_lost(exc)
        return Response(HealthStatus(status="database unreachable"), status_code=503, headers=retry)
    queue_check = getattr(request.app.state, "queue_ready", None)
    if queue_check is not None and not await queue_check():
        return Response(HealthStatus(status="queue unreachable"), status_code=503, headers=retry)
    return Response(HealthStatus(status="ready"))
