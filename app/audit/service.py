"""The audit trail: who changed what, with the before/after of the changed fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import msgspec

from app.core.request_context import current_actor
from app.core.sql import fetch
from app.core.uow import defer_insert

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


_INSERT_AUDIT = """
INSERT INTO audit_logs (id, tenant, "user", api_key, action, resource_type, resource_id,
                        changes, ip, user_agent, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, now())
"""
# The same rows in bulk, written with the unit of work's other queued rows (uow.defer_insert).
_DEFERRED_AUDIT = """
INSERT INTO audit_logs (id, tenant, "user", api_key, action, resource_type, resource_id,
                        changes, ip, user_agent, created_at)
SELECT i, t, u, k, a, rt, ri, c::jsonb, ip, ua, now()
FROM unnest({0}::uuid[], {1}::uuid[], {2}::uuid[], {3}::uuid[], {4}::text[], {5}::text[],
            {6}::text[], {7}::text[], {8}::text[], {9}::text[])
     AS x(i, t, u, k, a, rt, ri, c, ip, ua)
"""


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
    row = (
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
    if not defer_insert(_DEFERRED_AUDIT, row):
        await fetch(_INSERT_AUDIT, *row)


@dataclass(frozen=True)
class AuditTrail:
    """The audit trail of one resource type, for the service that owns it:
    `AUDIT = AuditTrail("task")`, then `await AUDIT.record(tenant_id=…, action=…, …)`."""

    resource_type: str

    async def record(
        self,
        *,
        tenant_id: UUID,
        action: str,
        resource_id: UUID | str | None,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> None:
        """record_audit for this resource type."""
        await record_audit(
            tenant_id=tenant_id,
            action=action,
            resource_type=self.resource_type,
            resource_id=resource_id,
            before=before,
            after=after,
        )
