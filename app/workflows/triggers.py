"""Which events start a workflow: trigger types, their config rules, and the match test."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from app.core.errors import FieldError
from tables.enums import ClientStatus, TriggerType

BUILTIN_EVENT_TYPES = frozenset(t.value for t in TriggerType)
TRIGGER_TYPES = tuple(t.value for t in TriggerType)
_STATUSES = tuple(s.value for s in ClientStatus)
# The events.type column is varchar(100); names are identifiers such as "invoice.paid".
CUSTOM_EVENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,99}$")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+\-]*/(\*|[a-z0-9][a-z0-9!#$&^_.+\-]*)$")

_ALLOWED_KEYS: dict[str, tuple[str, ...]] = {
    "CLIENT_CREATED": ("status",),
    "CLIENT_STATUS_CHANGED": ("from", "to"),
    "DOCUMENT_UPLOADED": ("content_type",),
    "CUSTOM": ("event",),
    "MANUAL": (),
}


def validate_custom_event_name(name: Any) -> str | None:
    """Why `name` cannot be a custom event's type, or None when it can."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if name.upper() in BUILTIN_EVENT_TYPES:
        return f"{name!r} is a built-in event type; use that trigger type instead"
    if not CUSTOM_EVENT_NAME.match(name):
        return "must be 1-100 characters of letters, digits and _ . : - / (starting alphanumeric)"
    return None


def validate_trigger(
    trigger_type: Any, trigger_config: Any, *, path: str = "$"
) -> list[FieldError]:
    """Every problem with a trigger type and its config, each with its JSON path."""
    if trigger_type not in _ALLOWED_KEYS:
        return [FieldError(f"{path}.trigger_type", f"must be one of {', '.join(TRIGGER_TYPES)}")]
    cpath = f"{path}.trigger_config"
    if not isinstance(trigger_config, dict):
        return [FieldError(cpath, "must be an object")]
    allowed = _ALLOWED_KEYS[trigger_type]
    errors = [
        FieldError(f"{cpath}.{key}", f"is not accepted for {trigger_type} triggers")
        for key in trigger_config
        if key not in allowed
    ]
    for key in ("status", "from", "to"):
        if key in allowed and key in trigger_config:
            value = trigger_config[key]
            if value is not None and value not in _STATUSES:
                errors.append(
                    FieldError(f"{cpath}.{key}", f"must be one of {', '.join(_STATUSES)}")
                )
    if trigger_type == "CLIENT_STATUS_CHANGED":
        frm, to = trigger_config.get("from"), trigger_config.get("to")
        if frm is not None and frm == to:
            errors.append(FieldError(f"{cpath}.to", 'must differ from "from"'))
    if trigger_type == "DOCUMENT_UPLOADED" and "content_type" in trigger_config:
        ct = trigger_config["content_type"]
        if ct is not None and (not isinstance(ct, str) or not _CONTENT_TYPE.match(ct.lower())):
            errors.append(
                FieldError(
                    f"{cpath}.content_type",
                    'must be a media type such as "application/pdf" or "application/*"',
                )
            )
    if trigger_type == "CUSTOM":
        if "event" not in trigger_config:
            errors.append(FieldError(f"{cpath}.event", "is required for CUSTOM triggers"))
        else:
            problem = validate_custom_event_name(trigger_config["event"])
            if problem:
                errors.append(FieldError(f"{cpath}.event", problem))
    return errors


def _content_type_matches(pattern: str, actual: Any) -> bool:
    if not isinstance(actual, str):
        return False
    # Parameters ("; charset=...") never narrow a match.
    media: str = actual.split(";", 1)[0].strip().lower()
    wanted = pattern.lower()
    if wanted.endswith("/*"):
        return media.startswith(wanted[:-1])
    return media == wanted


def trigger_mismatch(
    *,
    trigger_type: str,
    trigger_config: dict[str, Any],
    event_type: str,
    payload: dict[str, Any],
    workflow_id: UUID,
) -> dict[str, Any] | None:
    """Why this event does not start this workflow (before conditions), or None when it does.

    The answer names the trigger_config key that differed, what it wanted and what the event had:
    {"key": "to", "wanted": "ACTIVE", "actual": "CHURNED"}.
    """
    if trigger_type == "MANUAL":
        actual = payload.get("workflow_id")
        if event_type == "MANUAL" and str(actual) == str(workflow_id):
            return None
        return {"key": "workflow_id", "wanted": str(workflow_id), "actual": actual}
    if trigger_type == "CUSTOM":
        wanted = trigger_config.get("event")
        if event_type not in BUILTIN_EVENT_TYPES and wanted == event_type:
            return None
        return {"key": "event", "wanted": wanted, "actual": event_type}
    if trigger_type != event_type:
        return {"key": "trigger_type", "wanted": trigger_type, "actual": event_type}
    if trigger_type == "CLIENT_CREATED":
        status = trigger_config.get("status")
        if status is None:
            return None
        client = payload.get("client")
        actual = payload.get("status")
        if actual is None and isinstance(client, dict):
            actual = client.get("status")
        return None if actual == status else {"key": "status", "wanted": status, "actual": actual}
    if trigger_type == "CLIENT_STATUS_CHANGED":
        for key in ("from", "to"):
            wanted = trigger_config.get(key)
            if wanted is not None and payload.get(key) != wanted:
                return {"key": key, "wanted": wanted, "actual": payload.get(key)}
        return None
    if trigger_type == "DOCUMENT_UPLOADED":
        pattern = trigger_config.get("content_type")
        actual = payload.get("content_type")
        if pattern is None or _content_type_matches(pattern, actual):
            return None
        return {"key": "content_type", "wanted": pattern, "actual": actual}
    return {"key": "trigger_type", "wanted": trigger_type, "actual": event_type}


def trigger_matches(
    *,
    trigger_type: str,
    trigger_config: dict[str, Any],
    event_type: str,
    payload: dict[str, Any],
    workflow_id: UUID,
) -> bool:
    """Does this event start this workflow (before conditions)?"""
    return (
        trigger_mismatch(
            trigger_type=trigger_type,
            trigger_config=trigger_config,
            event_type=event_type,
            payload=payload,
            workflow_id=workflow_id,
        )
        is None
    )


__all__ = [
    "BUILTIN_EVENT_TYPES",
    "TRIGGER_TYPES",
    "trigger_matches",
    "trigger_mismatch",
    "validate_custom_event_name",
    "validate_trigger",
]
