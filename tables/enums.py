"""The closed vocabularies of the schema; CHECK constraints make the database enforce them too."""

from __future__ import annotations

from enum import Enum, StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class ClientStatus(StrEnum):
    LEAD = "LEAD"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    CHURNED = "CHURNED"


class TaskStatus(StrEnum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class TaskPriority(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    URGENT = "URGENT"


class EmailStatus(StrEnum):
    DRAFT = "DRAFT"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    # An SMTP attempt is recorded before the message leaves; see app/emails.
    SENDING = "SENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class TriggerType(StrEnum):
    CLIENT_CREATED = "CLIENT_CREATED"
    CLIENT_STATUS_CHANGED = "CLIENT_STATUS_CHANGED"
    DOCUMENT_UPLOADED = "DOCUMENT_UPLOADED"
    CUSTOM = "CUSTOM"
    MANUAL = "MANUAL"


class SourceKind(StrEnum):
    """How an inbound webhook source signs and shapes its deliveries."""

    STANDARD = "standard"
    HUBSPOT = "hubspot"


class ExecutionStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class StepStatus(StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    RETRYING = "RETRYING"


class MatchReason(StrEnum):
    """Why an event did or did not start a workflow (event_matches.reason)."""

    MATCHED = "MATCHED"
    # A trigger_config key differed from the event (detail: key, wanted, actual).
    TRIGGER_CONFIG = "TRIGGER_CONFIG"
    # The first condition that failed (detail: path, field, operator, value, actual).
    CONDITION = "CONDITION"
    # The event is past the maximum chain depth: recorded, starts nothing.
    LOOP_GUARD = "LOOP_GUARD"
    INACTIVE = "INACTIVE"
    # The workflow already ran for this event (one execution per workflow and event).
    ALREADY_RAN = "ALREADY_RAN"


def sql_in(column: str, enum: type[Enum]) -> str:
    """A CHECK condition accepting exactly the enum's values."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({values})"
