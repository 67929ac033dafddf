"""The schema: the one source of truth for the database (migrations are generated from it)."""

from tables.audit import AuditLogs, InboundDeliveries, InboundWebhookSources
from tables.crm import Clients, Documents, Notes, Tasks
from tables.events import Events
from tables.messaging import Emails
from tables.tenancy import ApiKeys, Tenants, Users
from tables.workflows import WorkflowExecutionLogs, WorkflowExecutions, Workflows

ALL_TABLES = (
    Tenants,
    Users,
    ApiKeys,
    Clients,
    Documents,
    Notes,
    Tasks,
    Workflows,
    WorkflowExecutions,
    WorkflowExecutionLogs,
    Events,
    Emails,
    AuditLogs,
    InboundWebhookSources,
    InboundDeliveries,
)

__all__ = [
    "ALL_TABLES",
    "ApiKeys",
    "AuditLogs",
    "Clients",
    "Documents",
    "Emails",
    "Events",
    "InboundDeliveries",
    "InboundWebhookSources",
    "Notes",
    "Tasks",
    "Tenants",
    "Users",
    "WorkflowExecutionLogs",
    "WorkflowExecutions",
    "Workflows",
]
