"""GET /metrics: the HTTP metrics and the engine's (app/core/metrics.py), Prometheus format."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.plugins.prometheus import PrometheusConfig
from litestar.response import Response

from app.core.metrics import exposition, refresh_queue_gauges


def prometheus_config() -> PrometheusConfig:
    """Litestar's HTTP metrics, one series per route template (`/api/v1/clients/{client_id}`)."""
    return PrometheusConfig(
        app_name="crmflow",
        prefix="crmflow_http",
        group_path=True,
        exclude=["^/metrics$", "^/dashboard/static", "^/schema/swagger"],
    )


@get("/metrics", exclude_from_auth=True, include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Every metric of this process (all processes' with PROMETHEUS_MULTIPROC_DIR)."""
    runtime = getattr(request.app.state, "worker_runtime", None)
    if runtime is not None:
        await refresh_queue_gauges(runtime.queue)
    body, content_type = exposition()
    return Response(body, media_type=content_type)
