"""HTTP: inbound deliveries (/api/v1/webhooks/{tenant_slug}/{source}, signed, no API key) and
the admin API for their secrets (/api/v1/webhook-sources)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from app.core.auth import Principal, admin_only
from app.core.config import get_settings
from app.core.errors import PayloadTooLargeError, error_responses
from app.core.uow import unit_of_work
from app.webhooks import inbound
from app.webhooks.schemas import InboundAccepted, SourceCreate, SourceList, SourceWithSecret

AuthRequest = Request[Principal, Any, Any]


async def _read_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The raw body (the signature covers these exact bytes), refused past `limit`."""
    too_large = PayloadTooLargeError(f"A webhook body may be at most {limit} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@post(
    # Registered on the app, not under the API router: it must not inherit the API-key scheme.
    "/api/v1/webhooks/{tenant_slug:str}/{source:str}",
    summary="Receive a signed webhook delivery (becomes a CUSTOM event)",
    description=(
        "No API key: the request is authenticated by `X-Crmflow-Signature: sha256=<hex>` = "
        'HMAC-SHA256(source secret, `X-Crmflow-Timestamp` + "." + raw body), with a fresh '
        "timestamp and a unique `X-Crmflow-Delivery` id. Body: "
        '`{"event": "<name>", "data": {...}}`. 202 when recorded, 200 `{"duplicate": true}` '
        "for a delivery id already seen."
    ),
    tags=["webhooks"],
    security=[],
    status_code=HTTP_202_ACCEPTED,
    responses={
        HTTP_200_OK: ResponseSpec(
            data_container=InboundAccepted, description="A delivery id already seen: dropped"
        ),
        **error_responses(404, 413),
    },
)
async def receive_webhook(
    request: Request[Any, Any, Any], tenant_slug: FromPath[str], source: FromPath[str]
) -> Response[InboundAccepted]:
    settings = get_settings()
    body = await _read_body(request, settings.inbound_webhook_max_bytes)
    headers = {k.lower(): v for k, v in request.headers.items()}
    async with unit_of_work():
        result = await inbound.receive_delivery(
            tenant_slug=tenant_slug, source=source, headers=headers, body=body, settings=settings
        )
    return Response(result, status_code=HTTP_200_OK if result.duplicate else HTTP_202_ACCEPTED)


class WebhookSourceController(Controller):
    path = "/webhook-sources"
    tags = ["webhooks"]
    guards = [admin_only]

    @get(
        "/",
        summary="List inbound webhook sources (secrets are never shown again)",
        responses=error_responses(403),
    )
    async def list_sources(self, request: AuthRequest) -> SourceList:
        return await inbound.list_sources(tenant_id=request.user.tenant_id)

    @post(
        "/",
        summary="Create a source; the response shows its secret once",
        responses=error_responses(403, 409),
    )
    async def create_source(
        self, request: AuthRequest, data: JSONBody[SourceCreate]
    ) -> SourceWithSecret:
        async with unit_of_work():
            return await inbound.create_source(tenant_id=request.user.tenant_id, source=data.source)

    @post(
        "/{source:str}/rotate",
        status_code=HTTP_200_OK,
        summary="Replace a source's secret; the response shows the new one once",
        responses=error_responses(403, 404),
    )
    async def rotate_source(self, request: AuthRequest, source: FromPath[str]) -> SourceWithSecret:
        async with unit_of_work():
            return await inbound.rotate_source(tenant_id=request.user.tenant_id, source=source)

    @delete(
        "/{source:str}",
        summary="Delete a source: its deliveries are refused from now on",
        responses=error_responses(403, 404),
    )
    async def delete_source(self, request: AuthRequest, source: FromPath[str]) -> None:
        async with unit_of_work():
            await inbound.delete_source(tenant_id=request.user.tenant_id, source=source)


__all__ = ["WebhookSourceController", "receive_webhook"]
