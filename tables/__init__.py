"""The schema: the one source of truth for the database (migrations are generated from it)."""

from tables.audit import AuditLogs, InboundDeliveries, InboundWebhookSources
from tables.console import ConsoleSessions, LoginLinks
from tables.crm import Clients, Documents, Notes, Tasks
from tables.events import Events
from tables.messaging import Emails
from tables.tenancy import ApiKeys, Tenants, Users
from tables.workflows import (
    EventMatches,
    WorkflowExecutionLogs,
    WorkflowExecutions,
    Workflows,
    WorkflowVersions,
)

ALL_TABLES = (
    Tenants,
    Users,
    ApiKeys,
    Clients,
    Documents,
    Notes,
    Tasks,
    Workflows,
    WorkflowVersions,
    WorkflowExecutions,
    WorkflowExecutionLogs,
    Events,
    EventMatches,
    Emails,
    AuditLogs,
    InboundWebhookSources,
    InboundDeliveries,
    ConsoleSessions,
    LoginLinks,
)

__all__ = [
    "ALL_TABLES",
    "ApiKeys",
    "AuditLogs",
    "Clients",
    "ConsoleSessions",
    "Documents",
    "Emails",
    "EventMatches",
    "Events",
    "InboundDeliveries",
    "InboundWebhookSources",
    "LoginLinks",
    "Notes",
    "Tasks",
    "Tenants",
    "Users",
    "WorkflowExecutionLogs",
    "WorkflowExecutions",
    "WorkflowVersions",
    "Workflows",
]
