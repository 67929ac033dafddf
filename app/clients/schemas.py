"""Wire types of the clients API (also used to validate workflow UPDATE_CLIENT changes)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from tables.enums import ClientStatus

Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"[^ \t\n\r\f\v]")]
Email = Annotated[str, Meta(max_length=320, pattern=r"^[^@ \t\n\r\f\v]+@[^@ \t\n\r\f\v]+$")]
Phone = Annotated[str, Meta(max_length=50)]
Company = Annotated[str, Meta(max_length=200)]
Tag = Annotated[
    str, Meta(min_length=1, max_length=100, pattern=r"^[^ \t\n\r\f\v](.*[^ \t\n\r\f\v])?$")
]
Tags = Annotated[list[Tag], Meta(max_length=100)]


class ClientCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    email: Email | None = None
    phone: Phone | None = None
    company: Company | None = None
    status: ClientStatus = ClientStatus.LEAD
    tags: Tags = []
    custom_fields: dict[str, Any] = {}
    # A user of the same tenant.
    owner_id: UUID | None = None


class ClientUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Only the fields present change; tags and custom_fields are replaced whole."""

    name: Name | UnsetType = UNSET
    email: Email | UnsetType | None = UNSET
    phone: Phone | UnsetType | None = UNSET
    company: Company | UnsetType | None = UNSET
    status: ClientStatus | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET
    custom_fields: dict[str, Any] | UnsetType = UNSET
    owner_id: UUID | UnsetType | None = UNSET


class TagBody(msgspec.Struct, forbid_unknown_fields=True):
    tag: Tag


class ClientOut(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    email: str | None
    phone: str | None
    company: str | None
    status: ClientStatus
    tags: list[str]
    custom_fields: dict[str, Any]
    owner_id: UUID | None
    created_at: datetime
    updated_at: datetime


class ClientPage(msgspec.Struct, kw_only=True):
    items: list[ClientOut]
    # Pass back as `cursor` for the next page; null on the last page.
    next_cursor: str | None = None


class ClientSort(StrEnum):
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    NAME = "name"
    NAME_DESC = "-name"


class ClientFilters(msgspec.Struct, kw_only=True):
    status: ClientStatus | None = None
    # Every listed tag must be on the client.
    tags: list[str] = []
    owner: UUID | None = None
    q: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
