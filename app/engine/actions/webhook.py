"""WEBHOOK: call an outside HTTP endpoint, signed, address-guarded, with clear retry rules.

Retried (ActionError retryable): network errors, timeouts, DNS failures, 5xx, and 429 (honouring
Retry-After). Not retried: any other 4xx, a refused address, a bad URL or template, a redirect
loop. The receiver gets X-Crmflow-Delivery = the step's idempotency key, the same on every
attempt, so it can drop a repeat after a crash.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from app.core.config import Settings, get_settings
from app.core.crypto import SecretDecryptError, decrypt_secret, is_encrypted
from app.engine.actions.base import ActionError, ActionHandler, StepContext
from app.webhooks.guard import AddressRefused, ResolutionFailed, parse_allowlist
from app.webhooks.outbound import (
    OutboundRequest,
    WebhookRequestError,
    parse_retry_after,
    send,
)
from app.webhooks.signing import DELIVERY_HEADER, signature_headers
from app.workflows.definition import WebhookConfig
from app.workflows.templating import TemplateError, render, render_value

USER_AGENT = "crmflow-webhook/1"
# Headers the workflow cannot set: they carry the signature, framing or routing.
_RESERVED = {"host", "content-length", "transfer-encoding", "connection"}
_RESERVED_PREFIX = "x-crmflow-"
_NO_BODY = {"GET", "DELETE"}


def _render_body(config: WebhookConfig, variables: dict[str, Any]) -> tuple[bytes | None, str]:
    """The request body and its default content type."""
    if config.method in _NO_BODY and config.body is None:
        return None, ""
    if config.body is None:
        # No body configured: send what the workflow saw, so a receiver needs no template.
        value: Any = {k: variables.get(k) for k in ("event", "client", "workflow")}
        return msgspec.json.encode(value), "application/json"
    if isinstance(config.body, str):
        text = render(config.body, variables)
        try:
            msgspec.json.decode(text)
        except msgspec.DecodeError:
            return text.encode(), "text/plain; charset=utf-8"
        return text.encode(), "application/json"
    return msgspec.json.encode(render_value(config.body, variables)), "application/json"


def _secret(config: WebhookConfig, settings: Settings) -> str | None:
    if not config.secret:
        return None
    if not is_encrypted(config.secret):
        # Saved before encryption was in place; still usable.
        return config.secret
    try:
        return decrypt_secret(config.secret, settings=settings)
    except SecretDecryptError as exc:
        raise ActionError(f"the webhook secret cannot be used: {exc}", retryable=False) from exc


def build_request(
    ctx: StepContext, config: WebhookConfig, settings: Settings
) -> tuple[OutboundRequest, bool]:
    """The rendered, signed request; (request, signed)."""
    try:
        url = render(config.url, ctx.variables).strip()
        headers = {
            str(name): str(render(value, ctx.variables))
            for name, value in config.headers.items()
            if name.lower() not in _RESERVED and not name.lower().startswith(_RESERVED_PREFIX)
        }
        body, content_type = _render_body(config, ctx.variables)
    except TemplateError as exc:
        raise ActionError(f"template error: {exc.message}", retryable=False) from exc
    if any("\r" in v or "\n" in v for v in headers.values()):
        raise ActionError("a rendered header value contains a line break", retryable=False)
    lowered = {k.lower() for k in headers}
    if content_type and "content-type" not in lowered:
        headers["Content-Type"] = content_type
    if "user-agent" not in lowered:
        headers["User-Agent"] = USER_AGENT
    headers[DELIVERY_HEADER] = ctx.idempotency_key
    secret = _secret(config, settings)
    if secret is not None:
        headers.update(signature_headers(secret, body or b""))
    request = OutboundRequest(
        method=config.method,
        url=url,
        headers=headers,
        body=body,
        # WEBHOOK_TIMEOUT_S is the operator's ceiling on what a workflow may ask for.
        timeout_s=min(config.timeout_s, settings.webhook_timeout_s),
    )
    return request, secret is not None


async def run_webhook(
    ctx: StepContext, config: WebhookConfig, *, settings: Settings
) -> dict[str, Any]:
    """Send the step's request; the output dict is logged on the step."""
    request, signed = build_request(ctx, config, settings)
    base: dict[str, Any] = {
        "method": request.method,
        "url": request.url,
        "delivery_id": ctx.idempotency_key,
        "signed": signed,
    }
    try:
        allowlist = parse_allowlist(settings.webhook_allowlist)
    except ValueError as exc:
        raise ActionError(f"WEBHOOK_ALLOWLIST is invalid: {exc}", retryable=False) from exc
    try:
        response = await send(request, allowlist=allowlist)
    except (AddressRefused, WebhookRequestError) as exc:
        raise ActionError(str(exc), retryable=False, output=base) from exc
    except ResolutionFailed as exc:
        raise ActionError(str(exc), output=base) from exc
    except httpx.TransportError as exc:
        message = f"{type(exc).__name__}: {exc}".rstrip(": ")
        raise ActionError(f"network error: {message}", output=base) from exc
    output = {
        **base,
        "status": response.status,
        "final_url": response.url,
        "redirects": response.redirects,
        "response_excerpt": response.excerpt,
    }
    status = response.status
    if 200 <= status < 300:
        return output
    if status == 429:
        raise ActionError(
            f"HTTP 429 from {response.url}",
            retry_after_s=parse_retry_after(response.retry_after),
            output=output,
        )
    if status >= 500:
        raise ActionError(
            f"HTTP {status} from {response.url}",
            retry_after_s=parse_retry_after(response.retry_after) if status == 503 else None,
            output=output,
        )
    # Other 4xx (and a 3xx that cannot be followed): the request itself is wrong; retrying
    # the same request cannot help.
    raise ActionError(f"HTTP {status} from {response.url}", retryable=False, output=output)


def make_webhook_handler(settings: Settings | None = None) -> ActionHandler:
    """A WEBHOOK handler bound to settings (tests pass theirs; the registry uses the process')."""

    async def handler(ctx: StepContext, config: Any) -> dict[str, Any]:
        return await run_webhook(ctx, config, settings=settings or get_settings())

    return handler


webhook_action: ActionHandler = make_webhook_handler()
