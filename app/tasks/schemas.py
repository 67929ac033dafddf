"""Wire types of the tasks API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from tables.enums import TaskPriority, TaskStatus

Title = Annotated[str, Meta(min_length=1, max_length=300, pattern=r"[^ \t\n\r\f\v]")]
Description = Annotated[str, Meta(max_length=20_000)]


class TaskCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Title
    description: Description = ""
    client_id: UUID | None = None
    priority: TaskPriority = TaskPriority.MEDIUM
    due_at: datetime | None = None
    assignee_id: UUID | None = None


class TaskUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Title | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    priority: TaskPriority | UnsetType = UNSET
    status: TaskStatus | UnsetType = UNSET
    due_at: datetime | UnsetType | None = UNSET
    assignee_id: UUID | UnsetType | None = UNSET


class TaskOut(msgspec.Struct, kw_only=True):
    id: UUID
    client_id: UUID | None
    title: str
    description: str
    priority: TaskPriority
    status: TaskStatus
    due_at: datetime | None
    assignee_id: UUID | None
    execution_id: UUID | None
    created_at: datetime
    updated_at: datetime


class TaskPage(msgspec.Struct, kw_only=True):
    items: list[TaskOut]
    next_cursor: str | None = None


class TaskFilters(msgspec.Struct, kw_only=True):
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    assignee: UUID | None = None
    client: UUID | None = None
