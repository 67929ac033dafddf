"""Emails produced by workflows, with their approval and delivery state."""

from __future__ import annotations

from piccolo.columns import (
    UUID,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.constraints import Check
from piccolo.table import Table

from tables.crm import Clients
from tables.enums import EmailStatus, sql_in
from tables.tenancy import Tenants, Users
from tables.workflows import WorkflowExecutions


class Emails(Table, tablename="emails"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(references=Tenants, on_delete=OnDelete.cascade, null=False)
    client = ForeignKey(references=Clients, on_delete=OnDelete.cascade, null=True, index=True)
    # Indexed: deleting an execution (retention) sets this NULL without scanning every email.
    execution = ForeignKey(
        references=WorkflowExecutions, on_delete=OnDelete.set_null, null=True, index=True
    )
    to = Varchar(length=320)
    subject = Varchar(length=500)
    body = Text()
    status = Varchar(length=20, default=EmailStatus.DRAFT.value, choices=EmailStatus, index=True)
    # Why a message the workflow wanted sent was kept as a draft (e.g. recipient not allowlisted).
    draft_reason = Text(null=True, default=None)
    decided_by = ForeignKey(references=Users, on_delete=OnDelete.set_null, null=True)
    decided_at = Timestamptz(null=True, default=None)
    # Message-ID fixed before the first SMTP attempt, so a reconcile can tell what was sent.
    message_id = Varchar(length=255, null=True, default=None)
    attempts = Integer(default=0)
    send_started_at = Timestamptz(null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)
    error = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow(), auto_update=TimestamptzNow().python)

    ck_emails_status = Check(sql_in("status", EmailStatus))
