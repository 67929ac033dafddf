"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response

from app.core.uow import get_engine


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
    try:
        await get_engine().run_ddl("SELECT 1")
        queue_check = getattr(request.app.state, "queue_ready", None)
        if queue_check is not None and not await queue_check():
            return Response(HealthStatus(status="queue unreachable"), status_code=503)
    except Exception:
        return Response(HealthStatus(status="database unreachable"), status_code=503)
    return Response(HealthStatus(status="ready"))
