"""WEBHOOK: call an outside HTTP endpoint, signed, address-guarded, with clear retry rules.

Retried (ActionError retryable): network errors, timeouts, DNS failures, 5xx, and 429 (honouring
Retry-After). Not retried: any other 4xx, a refused address, a bad URL or template, a redirect
loop. The receiver gets X-Crmflow-Delivery = the step's idempotency key, the same on every
attempt, so it can drop a repeat after a crash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from app.core.config import Settings, get_settings
from app.core.crypto import SecretDecryptError, decrypt_secret, is_encrypted
from app.core.metrics import WEBHOOK_DELIVERIES, workflow_label
from app.engine.actions._util import rendered
from app.engine.actions.base import ActionError, ActionHandler, StepContext
from app.webhooks import standard
from app.webhooks.guard import AddressRefused, AllowEntry, ResolutionFailed, parse_allowlist
from app.webhooks.outbound import (
    OutboundRequest,
    WebhookRequestError,
    check_destination,
    parse_retry_after,
    send,
)
from app.webhooks.signing import DELIVERY_HEADER, signature_headers
from app.workflows.credentials import plain_webhook_config
from app.workflows.definition import WebhookConfig

USER_AGENT = "crmflow-webhook/1"
# Headers the workflow cannot set: they carry the signature, framing or routing.
_RESERVED = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    standard.ID_HEADER,
    standard.TIMESTAMP_HEADER,
    standard.SIGNATURE_HEADER,
}
_RESERVED_PREFIX = "x-crmflow-"
_NO_BODY = {"GET", "DELETE"}


def _body(config: WebhookConfig, variables: dict[str, Any]) -> tuple[bytes | None, str]:
    """The request body (of a rendered config) and its default content type."""
    if config.method in _NO_BODY and config.body is None:
        return None, ""
    if config.body is None:
        # No body configured: send what the workflow saw, so a receiver needs no template.
        value: Any = {k: variables.get(k) for k in ("event", "client", "workflow")}
        return msgspec.json.encode(value), "application/json"
    if isinstance(config.body, str):
        try:
            msgspec.json.decode(config.body)
        except (msgspec.DecodeError, RecursionError):
            return config.body.encode(), "text/plain; charset=utf-8"
        return config.body.encode(), "application/json"
    return msgspec.json.encode(config.body), "application/json"


def _secrets(config: WebhookConfig, settings: Settings) -> list[str]:
    """The secrets that sign now: the current one, plus the previous one during a rotation."""
    if not config.secret:
        return []
    if not is_encrypted(config.secret):
        # Saved before encryption was in place; still usable.
        return [config.secret]
    try:
        plaintext = decrypt_secret(config.secret, settings=settings)
    except SecretDecryptError as exc:
        raise ActionError(f"the webhook secret cannot be used: {exc}", retryable=False) from exc
    return standard.load_keyring(plaintext).active()


def build_request(
    ctx: StepContext, config: WebhookConfig, settings: Settings
) -> tuple[OutboundRequest, bool]:
    """The signed request of a rendered config; (request, signed)."""
    url = config.url.strip()
    headers = {
        str(name): str(value)
        for name, value in config.headers.items()
        if name.lower() not in _RESERVED and not name.lower().startswith(_RESERVED_PREFIX)
    }
    body, content_type = _body(config, ctx.variables)
    if any("\r" in v or "\n" in v for v in headers.values()):
        raise ActionError("a rendered header value contains a line break", retryable=False)
    lowered = {k.lower() for k in headers}
    if content_type and "content-type" not in lowered:
        headers["Content-Type"] = content_type
    if "user-agent" not in lowered:
        headers["User-Agent"] = USER_AGENT
    headers[DELIVERY_HEADER] = ctx.idempotency_key
    unsigned = dict(headers)
    secrets = _secrets(config, settings)
    now = time.time()
    # Standard Webhooks: webhook-id is the step's idempotency key, stable across retries.
    headers.update(standard.signature_headers(secrets, ctx.idempotency_key, body or b"", now=now))
    if secrets:
        # The deprecated X-Crmflow-* signature, by the current secret only.
        headers.update(signature_headers(secrets[0], body or b"", now=now))
    signature_names = set(headers) - set(unsigned)
    request = OutboundRequest(
        method=config.method,
        url=url,
        headers=headers,
        body=body,
        # WEBHOOK_TIMEOUT_S is the operator's ceiling on what a workflow may ask for.
        timeout_s=min(config.timeout_s, settings.webhook_timeout_s),
        # Whatever the step set (an API key, a cookie ...) and the signatures are for this
        # origin only.
        credential_headers=frozenset(name.lower() for name in [*config.headers, *signature_names]),
    )
    return request, bool(secrets)


@dataclass(frozen=True, slots=True)
class PreparedWebhook:
    config: WebhookConfig  # rendered, header values in plain text
    request: OutboundRequest
    signed: bool
    allowlist: list[AllowEntry]
    base: dict[str, Any]  # what the step log shows of the request


async def render_webhook(
    ctx: StepContext, config: WebhookConfig, *, settings: Settings | None = None
) -> WebhookConfig:
    """The config with its header values decrypted (stored encrypted: they carry credentials)
    and every template rendered."""
    try:
        config = plain_webhook_config(config, settings=settings or get_settings())
    except SecretDecryptError as exc:
        raise ActionError(f"a webhook header cannot be used: {exc}", retryable=False) from exc
    return await rendered(config, ctx.variables)


def prepare_webhook(
    ctx: StepContext, config: WebhookConfig, *, settings: Settings
) -> PreparedWebhook:
    """A rendered config up to the moment the request leaves: build and sign, read the
    allowlist. Raises ActionError as the step would fail."""
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
    return PreparedWebhook(config, request, signed, allowlist, base)


async def validate_webhook(
    ctx: StepContext, config: WebhookConfig, *, settings: Settings | None = None
) -> WebhookConfig:
    """A rendered WEBHOOK up to the moment it would connect (the dry run): prepare_webhook,
    then the address guard on the URL, exactly as `send` applies it to the first hop."""
    prepared = prepare_webhook(ctx, config, settings=settings or get_settings())
    try:
        await check_destination(prepared.request, allowlist=prepared.allowlist)
    except (AddressRefused, WebhookRequestError) as exc:
        raise ActionError(str(exc), retryable=False, output=prepared.base) from exc
    except ResolutionFailed as exc:
        raise ActionError(str(exc), output=prepared.base) from exc
    except httpx.TimeoutException as exc:
        raise ActionError(
            f"network error: {type(exc).__name__}: {exc}", output=prepared.base
        ) from exc
    return config


async def run_webhook(
    ctx: StepContext, config: WebhookConfig, *, settings: Settings
) -> dict[str, Any]:
    """Send the step's request; the output dict is logged on the step."""
    rendered_config = await render_webhook(ctx, config, settings=settings)
    prepared = prepare_webhook(ctx, rendered_config, settings=settings)
    base = prepared.base
    try:
        response = await send(prepared.request, allowlist=prepared.allowlist)
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


def _outcome(error: ActionError) -> str:
    """The metric label of a failed attempt: the HTTP class, or why no answer came."""
    status = (error.output or {}).get("status")
    if isinstance(status, int):
        return "429" if status == 429 else f"{status // 100}xx"
    return "network_error" if error.retryable else "refused"


def make_webhook_handler(settings: Settings | None = None) -> ActionHandler:
    """A WEBHOOK handler bound to settings (tests pass theirs; the registry uses the process')."""

    async def handler(ctx: StepContext, config: Any) -> dict[str, Any]:
        workflow = workflow_label(ctx.workflow_id)
        try:
            output = await run_webhook(ctx, config, settings=settings or get_settings())
        except ActionError as exc:
            WEBHOOK_DELIVERIES.labels(_outcome(exc), workflow).inc()
            raise
        WEBHOOK_DELIVERIES.labels("2xx", workflow).inc()
        return output

    return handler


webhook_action: ActionHandler = make_webhook_handler()
