"""The transactional outbox: one row per change, written with the change."""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    ForeignKey,
    Integer,
    OnDelete,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from tables.crm import Clients
from tables.tenancy import Tenants, Users


class Events(Table, tablename="events"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(references=Tenants, on_delete=OnDelete.cascade, null=False)
    # CLIENT_CREATED, CLIENT_STATUS_CHANGED, DOCUMENT_UPLOADED, MANUAL, or a CUSTOM event's name.
    type = Varchar(length=100)
    client = ForeignKey(references=Clients, on_delete=OnDelete.cascade, null=True, index=True)
    payload = JSONB(default={})
    actor = ForeignKey(references=Users, on_delete=OnDelete.set_null, null=True)
    idempotency_key = Varchar(length=200, null=True, default=None)
    depth = Integer(default=0)
    # A plain UUID, not a foreign key: workflow_executions.event already references events, and
    # Piccolo's migrations cannot order a cycle. The provenance outlives the execution's deletion.
    caused_by_execution = UUID(null=True, default=None)
    dispatched_at = Timestamptz(null=True, default=None)
    # X-Request-ID of the request that wrote the event: the engine logs its executions with it.
    request_id = Varchar(length=128, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())

    uq_events_tenant_idempotency_key = Unique(["tenant", "idempotency_key"])
    ck_events_depth = Check("depth >= 0")
