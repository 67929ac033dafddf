"""Wire types of /api/v1/audit-logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class AuditLogOut(msgspec.Struct, kw_only=True):
    id: UUID
    user_id: UUID | None
    api_key_id: UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    # {"before": {...}, "after": {...}} of the changed fields; secrets redacted.
    changes: dict[str, Any]
    ip: str | None
    user_agent: str | None
    created_at: datetime


class AuditLogPage(msgspec.Struct, kw_only=True):
    items: list[AuditLogOut]
    next_cursor: str | None = None
