"""Inbound webhooks: per-tenant signing secrets, and signed deliveries turned into CUSTOM events.

A delivery is checked in this order, and nothing is written unless every check passes: size
(413), known source (404), signature headers and freshness (401), signature (401), delivery id
and JSON (400/422). The delivery row and its event are written in one transaction; the unique
(tenant, source, delivery_id) makes a repeat — even a concurrent one — a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec

from app.audit.service import record_audit
from app.core.config import Settings, get_settings
from app.core.crypto import SecretDecryptError, decrypt_secret, encrypt_secret
from app.core.errors import (
    BadRequestError,
    ConflictError,
    FieldError,
    NotFoundError,
    UnauthorizedError,
    UnprocessableError,
)
from app.core.jsonbody import decode_bounded
from app.core.sql import fetch, fetchrow
from app.events.service import record_event
from app.webhooks import hubspot, standard
from app.webhooks.schemas import (
    BatchAccepted,
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
from tables.enums import SourceKind

MAX_DELIVERY_ID = 200
# Naming `events` makes the unit of work write its queued event rows first (app/core/sql.py),
# so the foreign key finds the event recorded a moment ago.
_LINK_EVENT = (
    "UPDATE inbound_deliveries d SET event = e.id FROM events e WHERE d.id = $1 AND e.id = $2"
)


def _source_out(row: Mapping[str, Any], tenant_slug: str) -> SourceOut:
    return SourceOut(
        id=row["id"],
        source=row["source"],
        kind=SourceKind(row["kind"]),
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
        "SELECT id, source, kind, created_at, updated_at FROM inbound_webhook_sources "
        "WHERE tenant = $1 ORDER BY source",
        tenant_id,
    )
    return SourceList(items=[_source_out(r, slug) for r in rows])


def _with_secret(out: SourceOut, secret: str | None) -> SourceWithSecret:
    return SourceWithSecret(**msgspec.structs.asdict(out), secret=secret)


def _given_secret(kind: SourceKind, secret: str | None) -> str | None:
    """On rotate: a hubspot source's new app secret (required), None for a standard source
    (a fresh whsec_ is generated). A mismatch conflicts with what the source is (409)."""
    if kind is SourceKind.HUBSPOT and secret is None:
        raise ConflictError(
            'This is a hubspot source: send {"hubspot": {"client_secret": …}} with the '
            "HubSpot app's new client secret."
        )
    if kind is SourceKind.STANDARD and secret is not None:
        raise ConflictError(
            "This is a Standard Webhooks source: its new whsec_ secret is generated here."
        )
    return secret


async def create_source(
    *,
    tenant_id: UUID,
    source: str,
    hubspot_secret: str | None = None,
    settings: Settings | None = None,
) -> SourceWithSecret:
    """A new source: a hubspot one (the app's client secret given), or a Standard Webhooks one
    with a fresh secret (returned once). Secrets are stored encrypted."""
    kind = SourceKind.STANDARD if hubspot_secret is None else SourceKind.HUBSPOT
    given = hubspot_secret
    new_secret = given or standard.generate_secret()
    row = await fetchrow(
        """
        INSERT INTO inbound_webhook_sources (id, tenant, source, kind, secret_encrypted,
                                             created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, now(), now())
        ON CONFLICT ON CONSTRAINT uq_inbound_webhook_sources_tenant_source DO NOTHING
        RETURNING id, source, kind, created_at, updated_at
        """,
        uuid4(),
        tenant_id,
        source,
        kind.value,
        encrypt_secret(new_secret, settings=settings),
    )
    if row is None:
        raise ConflictError(f"The webhook source '{source}' already exists; rotate its secret.")
    await record_audit(
        tenant_id=tenant_id,
        action="create",
        resource_type="webhook_source",
        resource_id=row["id"],
        after={"source": source, "kind": kind.value},
    )
    shown = None if given else new_secret
    return _with_secret(_source_out(row, await _tenant_slug(tenant_id)), shown)


async def rotate_source(
    *,
    tenant_id: UUID,
    source: str,
    grace_s: int | None = None,
    hubspot_secret: str | None = None,
    settings: Settings | None = None,
) -> SourceWithSecret:
    """Replace the source's secret (a hubspot source's with the one given); the old one is
    still accepted for `grace_s` seconds (WEBHOOK_SECRET_GRACE_S by default, 0 = at once)."""
    settings = settings or get_settings()
    grace = settings.webhook_secret_grace_s if grace_s is None else grace_s
    current = await fetchrow(
        "SELECT secret_encrypted, kind FROM inbound_webhook_sources "
        "WHERE tenant = $1 AND source = $2 FOR UPDATE",
        tenant_id,
        source,
    )
    if current is None:
        raise NotFoundError(f"The webhook source '{source}' does not exist.")
    given = _given_secret(SourceKind(current["kind"]), hubspot_secret)
    try:
        keyring = standard.load_keyring(
            decrypt_secret(current["secret_encrypted"], settings=settings)
        )
    except SecretDecryptError:
        # An unreadable old secret cannot be honoured: the new one starts alone.
        keyring = standard.Keyring(current="")
        grace = 0
    new_secret = given or standard.generate_secret()
    rotated = keyring.rotated(new_secret, grace_s=grace)
    row = await fetchrow(
        """
        UPDATE inbound_webhook_sources SET secret_encrypted = $3, updated_at = now()
        WHERE tenant = $1 AND source = $2
        RETURNING id, source, kind, created_at, updated_at
        """,
        tenant_id,
        source,
        encrypt_secret(rotated.dump(), settings=settings),
    )
    assert row is not None
    await record_audit(
        tenant_id=tenant_id,
        action="rotate",
        resource_type="webhook_source",
        resource_id=row["id"],
        # The audit trail redacts "secret" keys: this records that it changed, not its value.
        before={"secret": "old"},
        after={"secret": "new", "grace_s": grace},
    )
    shown = None if given else new_secret
    out = _with_secret(_source_out(row, await _tenant_slug(tenant_id)), shown)
    if rotated.previous_until is not None:
        out.previous_secret_valid_until = datetime.fromtimestamp(rotated.previous_until, UTC)
    return out


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
        action="delete",
        resource_type="webhook_source",
        resource_id=row["id"],
        before={"source": source},
    )


@dataclass(frozen=True, slots=True)
class _Source:
    tenant_id: UUID
    kind: SourceKind
    keyring: standard.Keyring


async def _load_source(tenant_slug: str, source: str, settings: Settings) -> _Source:
    row = await fetchrow(
        """
        SELECT s.tenant, s.kind, s.secret_encrypted FROM inbound_webhook_sources s
        JOIN tenants t ON t.id = s.tenant
        WHERE t.slug = $1 AND s.source = $2
        """,
        tenant_slug,
        source,
    )
    if row is None:
        raise NotFoundError(f"No webhook source '{source}' for tenant '{tenant_slug}'.")
    try:
        keyring = standard.load_keyring(decrypt_secret(row["secret_encrypted"], settings=settings))
    except SecretDecryptError as exc:
        # Our key changed under a stored secret: the sender cannot fix that, the admin can.
        raise UnauthorizedError(
            "The source's secret is unreadable on this server; an admin must rotate it."
        ) from exc
    return _Source(tenant_id=row["tenant"], kind=SourceKind(row["kind"]), keyring=keyring)


def _verify(
    headers: Mapping[str, str], body: bytes, secrets: list[str], settings: Settings
) -> None:
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
    if not any(signature_matches(secret, timestamp, body, signature) for secret in secrets):
        raise UnauthorizedError("The signature does not match the body and timestamp.")


def _parse(body: bytes) -> InboundBody:
    try:
        raw = decode_bounded(body)
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
    method: str = "POST",
    public_uri: str = "",
) -> InboundAccepted | BatchAccepted:
    """Verify a delivery and record it as CUSTOM event(s), at most once per delivery id.

    `headers` must have lower-case names; `public_uri` is the address the sender posted to
    (HubSpot signs it). Call inside unit_of_work().
    """
    found = await _load_source(tenant_slug, source, settings)
    secrets = found.keyring.active()
    if found.kind is SourceKind.HUBSPOT:
        hubspot.verify(secrets, method=method, uri=public_uri, headers=headers, body=body)
        return await _record_hubspot(found.tenant_id, source, body)
    if standard.SIGNATURE_HEADER in headers or standard.ID_HEADER in headers:
        try:
            delivery_id = standard.verify(
                secrets, headers, body, tolerance_s=settings.inbound_webhook_tolerance_s
            )
        except standard.VerificationFailed as exc:
            raise UnauthorizedError(str(exc)) from exc
        id_header = standard.ID_HEADER
    else:
        # The deprecated X-Crmflow-* scheme (see the README for when it goes).
        _verify(headers, body, secrets, settings)
        delivery_id = (headers.get(DELIVERY_HEADER.lower()) or "").strip()
        id_header = DELIVERY_HEADER
    if not delivery_id or len(delivery_id) > MAX_DELIVERY_ID:
        raise BadRequestError(
            f"Send a unique {id_header} header (1-{MAX_DELIVERY_ID} characters) per "
            "delivery; a repeat with the same id is acknowledged and dropped."
        )
    parsed = _parse(body)
    try:
        inserted = await _claim_delivery(found.tenant_id, source, delivery_id)
    except asyncpg.DataError as exc:
        raise BadRequestError(f"The {id_header} header cannot be stored.") from exc
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
    await fetch(_LINK_EVENT, inserted, event.id)
    return InboundAccepted(duplicate=False, event_id=event.id, delivery_id=delivery_id)


async def _claim_delivery(tenant_id: UUID, source: str, delivery_id: str) -> UUID | None:
    """Record a delivery id: its row's id, or None when the id was seen before (a retry)."""
    row = await fetchrow(
        """
        INSERT INTO inbound_deliveries (id, tenant, source, delivery_id, received_at, created_at)
        VALUES ($1, $2, $3, $4, now(), now())
        ON CONFLICT ON CONSTRAINT uq_inbound_deliveries_tenant_source_delivery DO NOTHING
        RETURNING id
        """,
        uuid4(),
        tenant_id,
        source,
        delivery_id,
    )
    return None if row is None else row["id"]


def _decode(body: bytes) -> Any:
    try:
        return decode_bounded(body)
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"The body is not valid JSON: {exc}") from exc


async def _client_by_email(tenant_id: UUID, email: str | None) -> UUID | None:
    if not email:
        return None
    row = await fetchrow(
        "SELECT id FROM clients WHERE tenant = $1 AND lower(email) = lower($2) "
        "ORDER BY created_at LIMIT 1",
        tenant_id,
        email.strip()[:320],
    )
    return row["id"] if row else None


async def _record_hubspot(tenant_id: UUID, source: str, body: bytes) -> BatchAccepted:
    """One CUSTOM event per HubSpot item; an id already seen (HubSpot retries) is dropped."""
    items = hubspot.parse_items(_decode(body))
    event_ids: list[UUID] = []
    for item in items:
        inserted = await _claim_delivery(tenant_id, source, item.delivery_id)
        if inserted is None:
            continue
        event = await record_event(
            tenant_id=tenant_id,
            type=item.event_type,
            payload=item.payload,
            client_id=await _client_by_email(tenant_id, item.email),
        )
        await fetch(_LINK_EVENT, inserted, event.id)
        event_ids.append(event.id)
    return BatchAccepted(
        received=len(items),
        recorded=len(event_ids),
        duplicates=len(items) - len(event_ids),
        event_ids=event_ids,
    )
