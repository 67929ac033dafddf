"""GET /api/v1/catalog: the workflow language as data — trigger types (config schema, event
payload), operators, action types (JSON Schema, defaults, example), template variables, filters.

Built from the same structs the OpenAPI document and the save-time checks use."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec
from litestar import Controller, get

from app.core.errors import error_responses
from app.workflows.definition import ACTION_TYPES, CONFIG_TYPES, TEMPLATE_FIELDS, RetryPolicy
from app.workflows.language import OPERATOR_DOCS, TRIGGER_CONFIGS, condition_schemas
from app.workflows.templating import ALLOWED_FILTERS, OPEN_FIELDS, VARIABLE_FIELDS

_CLIENT_EXAMPLE = {
    "id": "0b8f0c1e-2f4e-4d9e-9a52-9f0d3a1c7e11",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": None,
    "company": "Analytical Engines",
    "status": "LEAD",
    "tags": ["vip"],
    "custom_fields": {"plan": "gold"},
    "owner": None,
    "external_id": None,
    "created_at": "2026-11-24T09:00:00+00:00",
    "updated_at": "2026-11-24T09:00:00+00:00",
}
TRIGGERS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # type: (description, example trigger_config, example event payload)
    "CLIENT_CREATED": (
        "A client was created (POST /clients, the console, an import).",
        {"status": "LEAD"},
        {"status": "LEAD", "client": _CLIENT_EXAMPLE},
    ),
    "CLIENT_STATUS_CHANGED": (
        "A client's status changed (PATCH /clients/{id}, an UPDATE_CLIENT step).",
        {"from": "LEAD", "to": "ACTIVE"},
        {"from": "LEAD", "to": "ACTIVE"},
    ),
    "DOCUMENT_UPLOADED": (
        "A document was uploaded to a client.",
        {"content_type": "application/pdf"},
        {
            "document_id": "5d0c7f7e-3c55-4b8e-8a7c-6a1f0d2b9c33",
            "filename": "contract.pdf",
            "content_type": "application/pdf",
            "size_bytes": 48213,
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        },
    ),
    "CUSTOM": (
        "An event your systems post (POST /events, an inbound webhook, HubSpot: "
        "hubspot.<subscriptionType>, hubspot.form.submission); the payload is theirs.",
        {"event": "deal.won"},
        {"amount": 1200, "deal": "D-42"},
    ),
    "MANUAL": (
        "Run by hand: POST /workflows/{id}/trigger.",
        {},
        {"workflow_id": "4a6e1d2c-8b9f-4c3d-a1e2-f3b4c5d6e7f8", "input": {"reason": "demo"}},
    ),
}
ACTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "SEND_EMAIL": (
        "Email the client: a DRAFT for review (EMAIL_MODE=DRAFT_ONLY) or sent to allowlisted "
        "recipients (SEND).",
        {"to": "{{ client.email }}", "subject": "Welcome, {{ client.name }}", "body": "Hello!"},
    ),
    "CREATE_TASK": (
        "Create a task, optionally due after a while and assigned to the client's owner.",
        {
            "title": "Call {{ client.name }}",
            "priority": "HIGH",
            "due_in": {"days": 1},
            "assignee": "owner",
        },
    ),
    "UPDATE_CLIENT": (
        "Set client fields; a status change emits CLIENT_STATUS_CHANGED (depth + 1).",
        {"status": "ACTIVE", "custom_fields": {"source": "{{ event.type }}"}},
    ),
    "ADD_TAG": ("Add a tag to the client (trimmed, lower-case).", {"tag": "vip"}),
    "REMOVE_TAG": ("Remove a tag from the client.", {"tag": "trial"}),
    "ADD_NOTE": ("Add a note to the client.", {"body": "Signed up via {{ event.type }}"}),
    "WEBHOOK": (
        "Call an HTTP endpoint (Standard Webhooks signature with a whsec_ secret; private "
        "addresses refused unless WEBHOOK_ALLOWLIST opens them).",
        {
            "url": "https://erp.example.com/hooks/{{ event.type }}",
            "method": "POST",
            "body": {"client": "{{ client.name }}"},
            "timeout_s": 10,
        },
    ),
    "DELAY": (
        "Wait (the execution goes WAITING and resumes from a scheduled job, across restarts).",
        {"duration": {"days": 3}},
    ),
}
VARIABLE_DOCS = {
    "client": "the event's client (empty when the event has none)",
    "event": "the triggering event",
    "workflow": "the running workflow",
}


class TriggerInfo(msgspec.Struct, kw_only=True):
    type: str
    description: str
    config_schema: dict[str, Any]
    config_example: dict[str, Any]
    # What `event.payload` holds for this trigger, by example.
    event_payload_example: dict[str, Any]


class OperatorInfo(msgspec.Struct, kw_only=True):
    operator: str
    description: str
    # JSON Schema of `value`; null when the operator takes none.
    value_schema: dict[str, Any] | None


class ActionInfo(msgspec.Struct, kw_only=True):
    type: str
    description: str
    config_schema: dict[str, Any]
    # Config fields left out take these values.
    defaults: dict[str, Any]
    example: dict[str, Any]
    # Config fields rendered as templates ("*": strings inside the JSON value).
    template_fields: list[str]


class VariableInfo(msgspec.Struct, kw_only=True):
    name: str
    description: str
    fields: list[str]
    # Paths below which any key may exist (the user's own JSON).
    open_paths: list[str]


class Catalog(msgspec.Struct, kw_only=True):
    trigger_types: list[TriggerInfo]
    operators: list[OperatorInfo]
    condition_schema: dict[str, Any]
    action_types: list[ActionInfo]
    step_defaults: dict[str, Any]
    template_variables: list[VariableInfo]
    template_filters: list[str]


def _defaults(kind: type[msgspec.Struct]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in msgspec.structs.fields(kind):
        if field.default is not msgspec.NODEFAULT:
            out[field.encode_name] = field.default
        elif field.default_factory is not msgspec.NODEFAULT:
            out[field.encode_name] = field.default_factory()
    return msgspec.to_builtins(out)  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def build_catalog() -> Catalog:
    """The catalog (the same for every tenant; built once)."""
    conditions = condition_schemas()
    return Catalog(
        trigger_types=[
            TriggerInfo(
                type=kind,
                description=doc,
                config_schema=msgspec.json.schema(TRIGGER_CONFIGS[kind]),
                config_example=config,
                event_payload_example=payload,
            )
            for kind, (doc, config, payload) in TRIGGERS.items()
        ],
        operators=[
            OperatorInfo(operator=op, description=doc, value_schema=value)
            for op, (doc, value) in OPERATOR_DOCS.items()
        ],
        condition_schema={
            "$ref": "#/$defs/Condition",
            "$defs": msgspec.json.decode(
                msgspec.json.encode(conditions).replace(b"#/components/schemas/", b"#/$defs/")
            ),
        },
        action_types=[
            ActionInfo(
                type=kind,
                description=ACTIONS[kind][0],
                config_schema=msgspec.json.schema(CONFIG_TYPES[kind]),
                defaults=_defaults(CONFIG_TYPES[kind]),
                example=ACTIONS[kind][1],
                template_fields=list(TEMPLATE_FIELDS[kind]),
            )
            for kind in ACTION_TYPES
        ],
        step_defaults={"retry": _defaults(RetryPolicy), "on_error": "stop"},
        template_variables=[
            VariableInfo(
                name=root,
                description=VARIABLE_DOCS[root],
                fields=[f"{root}.{f}" for f in fields],
                open_paths=sorted(p for p in OPEN_FIELDS if p.startswith(root + ".")),
            )
            for root, fields in VARIABLE_FIELDS.items()
        ],
        template_filters=sorted(ALLOWED_FILTERS),
    )


class CatalogController(Controller):
    path = "/catalog"
    tags = ["workflows"]

    @get(
        "/",
        summary="The workflow language: triggers, operators, actions, template variables",
        responses=error_responses(),
    )
    async def catalog(self) -> Catalog:
        return build_catalog()


__all__ = ["Catalog", "CatalogController", "build_catalog"]
