"""Wire types of the clients API (also used to validate workflow UPDATE_CLIENT changes)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from app.core.text import normalize_tag
from tables.enums import ClientStatus

Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"[^ \t\n\r\f\v]")]
Email = Annotated[str, Meta(max_length=320, pattern=r"^[^@ \t\n\r\f\v]+@[^@ \t\n\r\f\v]+$")]
Phone = Annotated[str, Meta(max_length=50)]
Company = Annotated[str, Meta(max_length=200)]
# Any text with a visible character; stored trimmed and lower-cased (normalize_tag).
Tag = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=100,
        pattern=r"[^ \t\n\r\f\v]",
        description="Stored trimmed and lower-case: `VIP` and ` vip ` are the tag `vip`",
    ),
]
Tags = Annotated[list[Tag], Meta(max_length=100)]
ExternalId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=200,
        pattern=r"[^ \t\n\r\f\v]",
        description="The CRM's own id for the client; unique per tenant",
    ),
]
# One bulk request: at most this many items, one transaction.
MAX_BATCH_ITEMS = 1000


def normalize_tags(tags: list[str]) -> list[str]:
    """Normalised, first spelling kept, duplicates (`VIP`, `vip`) dropped."""
    return list(dict.fromkeys(normalize_tag(t) for t in tags))


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
    external_id: ExternalId | None = None

    def __post_init__(self) -> None:
        self.tags = normalize_tags(self.tags)


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

    def __post_init__(self) -> None:
        if not isinstance(self.tags, UnsetType):
            self.tags = normalize_tags(self.tags)


class TagBody(msgspec.Struct, forbid_unknown_fields=True):
    tag: Tag

    def __post_init__(self) -> None:
        self.tag = normalize_tag(self.tag)


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
    external_id: str | None = None
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


class ClientUpsert(ClientUpdate, kw_only=True, forbid_unknown_fields=True):
    """One item of POST /clients/batch: created when `external_id` is new (then `name` is
    required, as on POST /clients), else the fields present change (as on PATCH)."""

    external_id: ExternalId


class ClientBatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    items: Annotated[list[ClientUpsert], Meta(min_length=1, max_length=MAX_BATCH_ITEMS)]


class BatchOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class ClientBatchResult(msgspec.Struct, kw_only=True):
    # The item's position in the request.
    index: int
    external_id: str
    id: UUID
    outcome: BatchOutcome


class ClientBatchOut(msgspec.Struct, kw_only=True):
    # One result per item, in the request's order.
    items: list[ClientBatchResult]


class ClientFilters(msgspec.Struct, kw_only=True):
    status: ClientStatus | None = None
    # Every listed tag must be on the client.
    tags: list[str] = []
    owner: UUID | None = None
    q: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
