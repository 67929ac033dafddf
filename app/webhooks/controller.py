"""HTTP: inbound deliveries (/api/v1/webhooks/{tenant_slug}/{source}, signed, no API key) and
the admin API for their secrets (/api/v1/webhook-sources)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from app.core.auth import Principal, admin_only
from app.core.config import Settings, get_settings
from app.core.errors import PayloadTooLargeError, error_responses
from app.core.metrics import INBOUND_WEBHOOKS
from app.core.text import is_ascii_digits
from app.core.uow import TransactionMiddleware
from app.webhooks import inbound
from app.webhooks.schemas import (
    BatchAccepted,
    InboundAccepted,
    SourceCreate,
    SourceList,
    SourceRotate,
    SourceWithSecret,
)

AuthRequest = Request[Principal, Any, Any]


async def _read_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The raw body (the signature covers these exact bytes), refused past `limit`."""
    too_large = PayloadTooLargeError(f"A webhook body may be at most {limit} bytes.")
    declared = request.headers.get("content-length", "")
    if is_ascii_digits(declared) and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def public_uri(request: Request[Any, Any, Any], settings: Settings) -> str:
    """The address the sender posted to: PUBLIC_BASE_URL + path + query when set (behind a
    proxy the request's own URL is not what the sender signed), else the request's URL."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(raw_path)
    query = request.scope.get("query_string", b"").decode("latin-1")
    if settings.public_base_url:
        base = settings.public_base_url.rstrip("/")
    else:
        base = f"{request.url.scheme}://{request.url.netloc}"
    return base + path + (f"?{query}" if query else "")


@post(
    # Registered on the app, not under the API router: it must not inherit the API-key scheme.
    "/api/v1/webhooks/{tenant_slug:str}/{source:str}",
    summary="Receive a signed webhook delivery (becomes a CUSTOM event)",
    middleware=[TransactionMiddleware],
    description=(
        "No API key: the request is signed per Standard Webhooks (`webhook-id`, "
        "`webhook-timestamp`, `webhook-signature: v1,<base64>` over id.timestamp.body with the "
        "source's `whsec_` secret), or with the deprecated `X-Crmflow-Signature: sha256=<hex>` = "
        'HMAC-SHA256(source secret, `X-Crmflow-Timestamp` + "." + raw body) and a unique '
        "`X-Crmflow-Delivery` id. Body: "
        '`{"event": "<name>", "data": {...}}`. 202 when recorded, 200 `{"duplicate": true}` '
        "for a delivery id already seen. A source of kind `hubspot` instead verifies "
        "`X-HubSpot-Signature-v3` (over method + PUBLIC_BASE_URL URI + body + "
        "`X-HubSpot-Request-Timestamp`) and takes HubSpot's event arrays and form submissions: "
        "one CUSTOM event per item (`hubspot.<subscriptionType>`, `hubspot.form.submission`), "
        "deduplicated by HubSpot's id; the answer is a BatchAccepted."
    ),
    tags=["webhooks"],
    security=[],
    status_code=HTTP_202_ACCEPTED,
    responses={
        HTTP_200_OK: ResponseSpec(
            data_container=InboundAccepted | BatchAccepted,  # type: ignore[arg-type]
            description="A delivery id already seen (every HubSpot id already seen): dropped",
            generate_examples=False,
        ),
        **error_responses(404, 413),
    },
)
async def receive_webhook(
    request: Request[Any, Any, Any], tenant_slug: FromPath[str], source: FromPath[str]
) -> Response[InboundAccepted | BatchAccepted]:
    settings = get_settings()
    body = await _read_body(request, settings.inbound_webhook_max_bytes)
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        result = await inbound.receive_delivery(
            tenant_slug=tenant_slug,
            source=source,
            headers=headers,
            body=body,
            settings=settings,
            method=request.method,
            public_uri=public_uri(request, settings),
        )
    except Exception:
        INBOUND_WEBHOOKS.labels("rejected").inc()
        raise
    seen = result.duplicate if isinstance(result, InboundAccepted) else result.recorded == 0
    INBOUND_WEBHOOKS.labels("duplicate" if seen else "accepted").inc()
    return Response(result, status_code=HTTP_200_OK if seen else HTTP_202_ACCEPTED)


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
        description=(
            'Body `{"source": "erp"}`: a Standard Webhooks source with a generated whsec_ '
            'secret. `{"source": "hubspot", "hubspot": {"client_secret": …}}`: a source of '
            "kind hubspot, verified with that HubSpot app's client secret."
        ),
        responses=error_responses(403, 409),
    )
    async def create_source(
        self, request: AuthRequest, data: JSONBody[SourceCreate]
    ) -> SourceWithSecret:
        return await inbound.create_source(
            tenant_id=request.user.tenant_id,
            source=data.source,
            hubspot_secret=data.hubspot.client_secret if data.hubspot else None,
        )

    @post(
        "/{source:str}/rotate",
        status_code=HTTP_200_OK,
        summary="Replace a source's secret; the response shows the new one once",
        description=(
            "The previous secret is still accepted for `grace_s` seconds (default "
            "WEBHOOK_SECRET_GRACE_S), so the sender can switch without a gap."
        ),
        responses=error_responses(403, 404, 409),
    )
    async def rotate_source(
        self,
        request: AuthRequest,
        source: FromPath[str],
        data: JSONBody[SourceRotate | None] = None,
    ) -> SourceWithSecret:
        return await inbound.rotate_source(
            tenant_id=request.user.tenant_id,
            source=source,
            grace_s=data.grace_s if data is not None else None,
            hubspot_secret=(
                data.hubspot.client_secret if data is not None and data.hubspot else None
            ),
        )

    @delete(
        "/{source:str}",
        summary="Delete a source: its deliveries are refused from now on",
        responses=error_responses(403, 404),
    )
    async def delete_source(self, request: AuthRequest, source: FromPath[str]) -> None:
        await inbound.delete_source(tenant_id=request.user.tenant_id, source=source)


__all__ = ["WebhookSourceController", "receive_webhook"]
