"""Wire types of the workflows API.

Bodies arrive as plain JSON and are checked by the service as a whole, so one 422 lists every
invalid field with its JSON path; app/workflows/language.py describes them as real schemas.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType

from tables.enums import TriggerType

TriggerTypeField = Annotated[
    str,
    msgspec.Meta(
        description="CLIENT_CREATED | CLIENT_STATUS_CHANGED | DOCUMENT_UPLOADED | CUSTOM | MANUAL"
    ),
]


class WorkflowCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    description: str = ""
    trigger_type: TriggerTypeField
    trigger_config: dict[str, Any] = {}
    # {"all": [...]}, {"any": [...]}, {"not": {...}} or one comparison; null = always.
    conditions: dict[str, Any] | None = None
    actions: list[Any]
    is_active: bool = False
    is_template: bool = False


class WorkflowUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Only the fields sent change; a definition change bumps the version."""

    name: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    trigger_type: TriggerTypeField | UnsetType = UNSET
    trigger_config: dict[str, Any] | UnsetType = UNSET
    conditions: dict[str, Any] | UnsetType | None = UNSET
    actions: list[Any] | UnsetType = UNSET
    is_template: bool | UnsetType = UNSET


class WorkflowOut(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    description: str
    is_active: bool
    is_template: bool
    trigger_type: TriggerType
    trigger_config: dict[str, Any]
    conditions: dict[str, Any] | None
    # WEBHOOK secrets are never returned: "[redacted]" stands for a stored one.
    actions: list[dict[str, Any]]
    version: int
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime


class WorkflowPage(msgspec.Struct):
    items: list[WorkflowOut]
    # Pass back as `cursor` for the next page; null on the last page.
    next_cursor: str | None = None


class WorkflowSort(StrEnum):
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    UPDATED_AT = "updated_at"
    UPDATED_AT_DESC = "-updated_at"
    NAME = "name"
    NAME_DESC = "-name"


class DryRunRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Test a workflow against a client without writing anything."""

    client_id: UUID | None = None
    # The event to test with; by default one that fits the trigger is made up from the client.
    event_type: str | None = None
    event_payload: dict[str, Any] | None = None


class DryRunAction(msgspec.Struct, kw_only=True):
    index: int
    type: str
    # The config with every template rendered, or null when rendering failed (see error).
    config: dict[str, Any] | None
    error: str | None = None


class DryRunResult(msgspec.Struct, kw_only=True):
    workflow_id: UUID
    version: int
    client_id: UUID | None
    event: dict[str, Any]
    trigger_matched: bool
    conditions_matched: bool
    would_run: bool
    actions: list[DryRunAction]


class ManualTrigger(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    client_id: UUID | None = None
    input: dict[str, Any] = {}


class TriggerAccepted(msgspec.Struct, kw_only=True):
    event_id: UUID
    workflow_id: UUID
    status: str = "accepted"
