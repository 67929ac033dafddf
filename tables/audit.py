"""Audit trail of every write, and the dedup record of inbound webhook deliveries."""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    ForeignKey,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from tables.enums import SourceKind, sql_in
from tables.events import Events
from tables.tenancy import ApiKeys, Tenants, Users


class AuditLogs(Table, tablename="audit_logs"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(references=Tenants, on_delete=OnDelete.cascade, null=False)
    user = ForeignKey(references=Users, on_delete=OnDelete.set_null, null=True)
    api_key = ForeignKey(references=ApiKeys, on_delete=OnDelete.set_null, null=True)
    action = Varchar(length=50)
    resource_type = Varchar(length=50)
    resource_id = Varchar(length=100, null=True, default=None)
    # {"before": {...}, "after": {...}} of the changed fields, secrets redacted.
    changes = JSONB(default={})
    ip = Varchar(length=64, null=True, default=None)
    user_agent = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class InboundWebhookSources(Table, tablename="inbound_webhook_sources"):
    """A tenant's signing secret for one inbound webhook source (encrypted at rest)."""

    id = UUID(primary_key=True)
    tenant = ForeignKey(references=Tenants, on_delete=OnDelete.cascade, null=False)
    source = Varchar(length=100)
    # How deliveries are signed and shaped: "standard" (Standard Webhooks, {"event", "data"}) or
    # "hubspot" (X-HubSpot-Signature-v3 over HubSpot's event arrays and form submissions).
    kind = Varchar(length=20, default=SourceKind.STANDARD.value, choices=SourceKind)
    secret_encrypted = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow(), auto_update=TimestamptzNow().python)

    uq_inbound_webhook_sources_tenant_source = Unique(["tenant", "source"])
    ck_inbound_webhook_sources_kind = Check(sql_in("kind", SourceKind))


class InboundDeliveries(Table, tablename="inbound_deliveries"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(references=Tenants, on_delete=OnDelete.cascade, null=False)
    source = Varchar(length=100)
    delivery_id = Varchar(length=200)
    # Indexed for retention: deleting an event sets this NULL; old rows go by received_at.
    event = ForeignKey(references=Events, on_delete=OnDelete.set_null, null=True, index=True)
    received_at = Timestamptz(default=TimestamptzNow(), index=True)
    created_at = Timestamptz(default=TimestamptzNow())

    uq_inbound_deliveries_tenant_source_delivery = Unique(["tenant", "source", "delivery_id"])
