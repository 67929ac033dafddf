"""The audit trail: who changed what, with the before/after of the changed fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

import msgspec

from app.core.request_context import current_actor
from app.core.sql import fetch

REDACTED = "[redacted]"
_SECRET_MARKERS = ("secret", "password", "token", "key_hash", "api_key", "authorization")


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def redact(value: Any) -> Any:
    """Replace every value under a secret-looking key, at any depth."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if _is_secret(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def diff(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """{"before": {...}, "after": {...}} restricted to the fields that changed."""
    before = before or {}
    after = after or {}
    changed = [k for k in {*before, *after} if before.get(k) != after.get(k)]
    return {
        "before": redact({k: before[k] for k in changed if k in before}),
        "after": redact({k: after[k] for k in changed if k in after}),
    }


async def record_audit(
    *,
    tenant_id: UUID,
    action: str,
    resource_type: str,
    resource_id: UUID | str | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Record a write by the current actor (request or job); call inside the write's transaction."""
    actor = current_actor()
    changes = diff(before, after)
    await fetch(
        """
        INSERT INTO audit_logs (id, tenant, "user", api_key, action, resource_type, resource_id,
                                changes, ip, user_agent, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, now())
        """,
        uuid4(),
        tenant_id,
        actor.user_id,
        actor.api_key_id,
        action,
        resource_type,
        None if resource_id is None else str(resource_id),
        msgspec.json.encode(changes).decode(),
        actor.ip,
        actor.user_agent,
    )
