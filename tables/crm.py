"""The CRM's own records: clients and what hangs off them."""

from __future__ import annotations

from typing import Any

from piccolo.columns import (
    JSONB,
    UUID,
    Array,
    BigInt,
    ForeignKey,
    LazyTableReference,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from tables.enums import ClientStatus, TaskPriority, TaskStatus, sql_in
from tables.tenancy import Tenants, Users

_EXECUTIONS = LazyTableReference("WorkflowExecutions", module_path="tables.workflows")


class Clients(Table, tablename="clients"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(references=Tenants, on_delete=OnDelete.cascade, null=False)
    owner = ForeignKey(references=Users, on_delete=OnDelete.set_null, null=True)
    name = Varchar(length=200)
    email = Varchar(length=320, null=True, default=None)
    phone = Varchar(length=50, null=True, default=None)
    company = Varchar(length=200, null=True, default=None)
    status = Varchar(length=20, default=ClientStatus.LEAD.value, choices=ClientStatus)
    tags = Array(
        base_column=Varchar(length=100), default=list, index=True, index_method=IndexMethod.gin
    )
    custom_fields = JSONB(default={})
    # The CRM's own id for the client (bulk sync upserts by it); unique per tenant when set.
    external_id = Varchar(length=200, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow(), auto_update=TimestamptzNow().python)

    ck_clients_status = Check(sql_in("status", ClientStatus))
    uq_clients_tenant_external_id = Unique(["tenant", "external_id"])


class Documents(Table, tablename="documents"):
    id = UUID(primary_key=True)
    client = ForeignKey(references=Clients, on_delete=OnDelete.cascade, null=False, index=True)
    uploaded_by = ForeignKey(references=Users, on_delete=OnDelete.set_null, null=True)
    filename = Varchar(length=255)
    content_type = Varchar(length=255)
    size_bytes = BigInt()
    sha256 = Varchar(length=64)
    storage_key = Varchar(length=255, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())

    ck_documents_size = Check("size_bytes >= 0")


class Notes(Table, tablename="notes"):
    id = UUID(primary_key=True)
    client = ForeignKey(references=Clients, on_delete=OnDelete.cascade, null=False, index=True)
    author = ForeignKey(references=Users, on_delete=OnDelete.set_null, null=True)
    execution: ForeignKey[Any] = ForeignKey(
        references=_EXECUTIONS, on_delete=OnDelete.set_null, null=True
    )
    body = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow(), auto_update=TimestamptzNow().python)


class Tasks(Table, tablename="tasks"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(references=Tenants, on_delete=OnDelete.cascade, null=False)
    client = ForeignKey(references=Clients, on_delete=OnDelete.cascade, null=True, index=True)
    assignee = ForeignKey(references=Users, on_delete=OnDelete.set_null, null=True)
    execution: ForeignKey[Any] = ForeignKey(
        references=_EXECUTIONS, on_delete=OnDelete.set_null, null=True
    )
    title = Varchar(length=300)
    description = Text(default="")
    priority = Varchar(length=10, default=TaskPriority.MEDIUM.value, choices=TaskPriority)
    status = Varchar(length=20, default=TaskStatus.OPEN.value, choices=TaskStatus)
    due_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow(), auto_update=TimestamptzNow().python)

    ck_tasks_priority = Check(sql_in("priority", TaskPriority))
    ck_tasks_status = Check(sql_in("status", TaskStatus))
