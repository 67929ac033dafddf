"""Inbound webhooks: per-tenant signing secrets, and signed deliveries turned into CUSTOM events.

A delivery is checked in this order, and nothing is written unless every check passes: size
(413), known source (404), signature headers and freshness (401), signature (401), delivery id
and JSON (400/422). The delivery row and its event are written in one transaction; the unique
(tenant, source, delivery_id) makes a repeat — even a concurrent one — a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec

from app.audit.service import record_audit
from app.core.config import Settings
from app.core.crypto import SecretDecryptError, decrypt_secret, encrypt_secret, generate_secret
from app.core.errors import (
    BadRequestError,
    ConflictError,
    FieldError,
    NotFoundError,
    UnauthorizedError,
    UnprocessableError,
)
from app.core.sql import fetch, fetchrow
from app.events.service import record_event
from app.webhooks.schemas import (
    InboundAccepted,
    InboundBody,
    SourceList,
    SourceOut,
    SourceWithSecret,
)
from app.webhooks.signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    is_fresh,
    signature_matches,
)
from app.workflows.triggers import BUILTIN_EVENT_TYPES

MAX_DELIVERY_ID = 200


def _source_out(row: Mapping[str, Any], tenant_slug: str) -> SourceOut:
    return SourceOut(
        id=row["id"],
        source=row["source"],
        path=f"/api/v1/webhooks/{tenant_slug}/{row['source']}",
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _tenant_slug(tenant_id: UUID) -> str:
    row = await fetchrow("SELECT slug FROM tenants WHERE id = $1", tenant_id)
    if row is None:
        raise NotFoundError("The tenant does not exist.")
    return str(row["slug"])


async def list_sources(*, tenant_id: UUID) -> SourceList:
    slug = await _tenant_slug(tenant_id)
    rows = await fetch(
        "SELECT id, source, created_at, updated_at FROM inbound_webhook_sources "
        "WHERE tenant = $1 ORDER BY source",
        tenant_id,
    )
    return SourceList(items=[_source_out(r, slug) for r in rows])


def _with_secret(out: SourceOut, secret: str) -> SourceWithSecret:
    return SourceWithSecret(**msgspec.structs.asdict(out), secret=secret)


async def create_source(
    *, tenant_id: UUID, source: str, settings: Settings | None = None
) -> SourceWithSecret:
    """A new source with a fresh secret (returned once, stored encrypted)."""
    secret = generate_secret()
    row = await fetchrow(
        """
        INSERT INTO inbound_webhook_sources (id, tenant, source, secret_encrypted,
                                             created_at, updated_at)
        VALUES ($1, $2, $3, $4, now(), now())
        ON CONFLICT ON CONSTRAINT uq_inbound_webhook_sources_tenant_source DO NOTHING
        RETURNING id, source, created_at, updated_at
        """,
        uuid4(),
        tenant_id,
        source,
        encrypt_secret(secret, settings=settings),
    )
    if row is None:
        raise ConflictError(f"The webhook source '{source}' already exists; rotate its secret.")
    await record_audit(
        tenant_id=tenant_id,
        action="webhook_source.create",
        resource_type="webhook_source",
        resource_id=row["id"],
        after={"source": source},
    )
    return _with_secret(_source_out(row, await _tenant_slug(tenant_id)), secret)


async def rotate_source(
    *, tenant_id: UUID, source: str, settings: Settings | None = None
) -> SourceWithSecret:
    """Replace the source's secret; the old one stops working at once."""
    secret = generate_secret()
    row = await fetchrow(
        """
        UPDATE inbound_webhook_sources SET secret_encrypted = $3, updated_at = now()
        WHERE tenant = $1 AND source = $2
        RETURNING id, source, created_at, updated_at
        """,
        tenant_id,
        source,
        encrypt_secret(secret, settings=settings),
    )
    if row is None:
        raise NotFoundError(f"The webhook source '{source}' does not exist.")
    await record_audit(
        tenant_id=tenant_id,
        action="webhook_source.rotate",
        resource_type="webhook_source",
        resource_id=row["id"],
        # The audit trail redacts "secret" keys: this records that it changed, not its value.
        before={"secret": "old"},
        after={"secret": "new"},
    )
    return _with_secret(_source_out(row, await _tenant_slug(tenant_id)), secret)


async def delete_source(*, tenant_id: UUID, source: str) -> None:
    row = await fetchrow(
        "DELETE FROM inbound_webhook_sources WHERE tenant = $1 AND source = $2 RETURNING id",
        tenant_id,
        source,
    )
    if row is None:
        raise NotFoundError(f"The webhook source '{source}' does not exist.")
    await record_audit(
        tenant_id=tenant_id,
        action="webhook_source.delete",
        resource_type="webhook_source",
        resource_id=row["id"],
        before={"source": source},
    )


@dataclass(frozen=True, slots=True)
class _Source:
    tenant_id: UUID
    secret: str


async def _load_source(tenant_slug: str, source: str, settings: Settings) -> _Source:
    row = await fetchrow(
        """
        SELECT s.tenant, s.secret_encrypted FROM inbound_webhook_sources s
        JOIN tenants t ON t.id = s.tenant
        WHERE t.slug = $1 AND s.source = $2
        """,
        tenant_slug,
        source,
    )
    if row is None:
        raise NotFoundError(f"No webhook source '{source}' for tenant '{tenant_slug}'.")
    try:
        secret = decrypt_secret(row["secret_encrypted"], settings=settings)
    except SecretDecryptError as exc:
        # Our key changed under a stored secret: the sender cannot fix that, the admin can.
        raise UnauthorizedError(
            "The source's secret is unreadable on this server; an admin must rotate it."
        ) from exc
    return _Source(tenant_id=row["tenant"], secret=secret)


def _verify(headers: Mapping[str, str], body: bytes, secret: str, settings: Settings) -> None:
    signature = headers.get(SIGNATURE_HEADER.lower())
    timestamp = headers.get(TIMESTAMP_HEADER.lower())
    if not signature or not timestamp:
        raise UnauthorizedError(
            f"Sign the request: send {SIGNATURE_HEADER}: sha256=<hex> and {TIMESTAMP_HEADER}."
        )
    if not is_fresh(timestamp, tolerance_s=settings.inbound_webhook_tolerance_s):
        raise UnauthorizedError(
            f"{TIMESTAMP_HEADER} is not a unix time within "
            f"{settings.inbound_webhook_tolerance_s} s of ours (stale or replayed)."
        )
    if not signature_matches(secret, timestamp, body, signature):
        raise UnauthorizedError("The signature does not match the body and timestamp.")


def _parse(body: bytes) -> InboundBody:
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"The body is not valid JSON: {exc}") from exc
    try:
        parsed = msgspec.convert(raw, InboundBody)
    except msgspec.ValidationError as exc:
        message, _, at = str(exc).partition(" - at `")
        path = at.rstrip("`") or "$"
        if "missing required field `event`" in message:
            path = "$.event"
        raise UnprocessableError(
            'The body must be {"event": <name>, "data": {...}}.',
            errors=[FieldError(path, message)],
        ) from exc
    if parsed.event.upper() in BUILTIN_EVENT_TYPES:
        raise UnprocessableError(
            "A webhook can only post custom events.",
            errors=[FieldError("$.event", "is a built-in event type")],
        )
    return parsed


async def receive_delivery(
    *,
    tenant_slug: str,
    source: str,
    headers: Mapping[str, str],
    body: bytes,
    settings: Settings,
) -> InboundAccepted:
    """Verify a delivery and record it as a CUSTOM event, at most once per delivery id.

    `headers` must have lower-case names. Call inside unit_of_work().
    """
    found = await _load_source(tenant_slug, source, settings)
    _verify(headers, body, found.secret, settings)
    delivery_id = (headers.get(DELIVERY_HEADER.lower()) or "").strip()
    if not delivery_id or len(delivery_id) > MAX_DELIVERY_ID:
        raise BadRequestError(
            f"Send a unique {DELIVERY_HEADER} header (1-{MAX_DELIVERY_ID} characters) per "
            "delivery; a repeat with the same id is acknowledged and dropped."
        )
    parsed = _parse(body)
    try:
        inserted = await fetchrow(
            """
            INSERT INTO inbound_deliveries (id, tenant, source, delivery_id, received_at,
                                            created_at)
            VALUES ($1, $2, $3, $4, now(), now())
            ON CONFLICT ON CONSTRAINT uq_inbound_deliveries_tenant_source_delivery DO NOTHING
            RETURNING id
            """,
            uuid4(),
            found.tenant_id,
            source,
            delivery_id,
        )
    except asyncpg.DataError as exc:
        raise BadRequestError(f"The {DELIVERY_HEADER} header cannot be stored.") from exc
    if inserted is None:
        existing = await fetchrow(
            "SELECT event FROM inbound_deliveries "
            "WHERE tenant = $1 AND source = $2 AND delivery_id = $3",
            found.tenant_id,
            source,
            delivery_id,
        )
        return InboundAccepted(
            duplicate=True,
            event_id=existing["event"] if existing else None,
            delivery_id=delivery_id,
        )
    event = await record_event(tenant_id=found.tenant_id, type=parsed.event, payload=parsed.data)
    await fetch("UPDATE inbound_deliveries SET event = $2 WHERE id = $1", inserted["id"], event.id)
    return InboundAccepted(duplicate=False, event_id=event.id, delivery_id=delivery_id)
