"""The workflow language as types: what the OpenAPI document and GET /catalog describe.

The server checks a saved workflow with its own validators (every error at once, each with its
JSON path); these structs are the same rules written as types, so that /schema/openapi.json
describes triggers, trigger_config per trigger type, conditions and each action's config as real
schemas — a discriminated union on `trigger_type` for workflows and on `type` for actions — and a
generated client can build a workflow with types. `install_openapi` puts them in the document.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeAlias

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import OpenAPI, Operation, Reference, RequestBody, Schema

from app.workflows.conditions import (
    MAX_DEPTH,
    MAX_IN_VALUES,
    MAX_LEAVES,
    MAX_PATTERN_CHARS,
    OPERATORS,
)
from app.workflows.definition import ACTION_TYPES, MAX_ACTIONS, Action
from app.workflows.templating import VARIABLE_FIELDS
from app.workflows.triggers import BUILTIN_EVENT_TYPES, CUSTOM_EVENT_NAME
from app.workflows.validation import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS

ClientStatusValue = Literal["LEAD", "ACTIVE", "INACTIVE", "CHURNED"]
REF = "#/components/schemas/{name}"


def _case_free(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


# A custom event's name: not a built-in type in any letter case (JSON Schema has no (?i)).
CUSTOM_EVENT_PATTERN = (
    "^(?!(?:"
    + "|".join(_case_free(t) for t in sorted(BUILTIN_EVENT_TYPES))
    + ")$)"
    + CUSTOM_EVENT_NAME.pattern.lstrip("^")
)
_SEGMENT = r"\.[A-Za-z0-9_\-]{1,100}"
# A condition's field: a root, one of its fields, then any deeper keys (what the save accepts).
FIELD_PATTERN = (
    "^(?:"
    + "|".join(f"{root}\\.(?:{'|'.join(fields)})" for root, fields in VARIABLE_FIELDS.items())
    + f")(?:{_SEGMENT}){{0,9}}$"
)
CONTENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]*/(\*|[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]*)$"


class _Config(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    pass


class ClientCreatedTrigger(_Config):
    """CLIENT_CREATED: narrow to clients created with this status."""

    status: ClientStatusValue | None = None


class ClientStatusChangedTrigger(_Config):
    """CLIENT_STATUS_CHANGED: narrow by the old and/or new status (they must differ)."""

    from_: ClientStatusValue | None = msgspec.field(default=None, name="from")
    to: ClientStatusValue | None = None


class DocumentUploadedTrigger(_Config):
    """DOCUMENT_UPLOADED: narrow by media type ("application/pdf", "image/*")."""

    content_type: Annotated[str, msgspec.Meta(pattern=CONTENT_TYPE_PATTERN)] | None = None


class CustomTrigger(_Config):
    """CUSTOM: the event name posted to /events or by an inbound webhook (e.g. "deal.won")."""

    event: Annotated[str, msgspec.Meta(pattern=CUSTOM_EVENT_PATTERN, max_length=100)]


class ManualTrigger(_Config):
    """MANUAL: run by POST /workflows/{id}/trigger; no settings."""


TRIGGER_CONFIGS: dict[str, type[_Config]] = {
    "CLIENT_CREATED": ClientCreatedTrigger,
    "CLIENT_STATUS_CHANGED": ClientStatusChangedTrigger,
    "DOCUMENT_UPLOADED": DocumentUploadedTrigger,
    "CUSTOM": CustomTrigger,
    "MANUAL": ManualTrigger,
}


class Condition:
    """Marker: the conditions tree (its schema is written out in condition_schemas)."""


class TriggerConfig:
    """Marker: any trigger type's config (which one depends on trigger_type)."""


# Some character that is not blank to JavaScript's \s nor to Python's str.strip().
NAME_PATTERN = r"[^\s\x1c-\x1f\x85]"
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS, pattern=r"\S")]
Description = Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION_CHARS)]
Actions = Annotated[list[Action], msgspec.Meta(min_length=1, max_length=MAX_ACTIONS)]


class _Workflow(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="trigger_type"):
    name: Name
    description: Description = ""
    # null or left out: always run.
    conditions: Condition | None = None
    actions: Actions
    is_active: bool = False
    # Offer this workflow as a template to the tenant (POST /workflows {"from_template": id}).
    is_template: bool = False


class ClientCreatedWorkflow(_Workflow, tag="CLIENT_CREATED"):
    trigger_config: ClientCreatedTrigger = msgspec.field(default_factory=ClientCreatedTrigger)


class ClientStatusChangedWorkflow(_Workflow, tag="CLIENT_STATUS_CHANGED"):
    trigger_config: ClientStatusChangedTrigger = msgspec.field(
        default_factory=ClientStatusChangedTrigger
    )


class DocumentUploadedWorkflow(_Workflow, tag="DOCUMENT_UPLOADED"):
    trigger_config: DocumentUploadedTrigger = msgspec.field(default_factory=DocumentUploadedTrigger)


class CustomWorkflow(_Workflow, tag="CUSTOM"):
    trigger_config: CustomTrigger


class ManualWorkflow(_Workflow, tag="MANUAL"):
    trigger_config: ManualTrigger = msgspec.field(default_factory=ManualTrigger)


WorkflowDefinition: TypeAlias = (
    ClientCreatedWorkflow
    | ClientStatusChangedWorkflow
    | DocumentUploadedWorkflow
    | CustomWorkflow
    | ManualWorkflow
)


class WorkflowFromTemplate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Instantiate a template: a shipped one's key (GET /workflow-templates) or the id of one of
    the tenant's workflows marked is_template."""

    from_template: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    name: Name | None = None
    is_active: bool = False


_TRIGGER_SCHEMA_NAMES = {t: cls.__name__ for t, cls in TRIGGER_CONFIGS.items()}


class WorkflowPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Only the fields sent change; a definition change bumps the version. A trigger_config must
    fit the (new or current) trigger_type."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    trigger_type: (
        Literal["CLIENT_CREATED", "CLIENT_STATUS_CHANGED", "DOCUMENT_UPLOADED", "CUSTOM", "MANUAL"]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    trigger_config: TriggerConfig | msgspec.UnsetType = msgspec.UNSET
    conditions: Condition | msgspec.UnsetType | None = msgspec.UNSET
    actions: Actions | msgspec.UnsetType = msgspec.UNSET
    is_template: bool | msgspec.UnsetType = msgspec.UNSET


def _leaf(operators: tuple[str, ...], value: dict[str, Any] | None, doc: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "field": {
            "type": "string",
            "pattern": FIELD_PATTERN,
            "description": "client.<field>, event.<field>, workflow.<field>; deeper under "
            "client.custom_fields and event.payload (see GET /catalog)",
        },
        "operator": {"enum": list(operators)} if len(operators) > 1 else {"const": operators[0]},
    }
    required = ["field", "operator"]
    if value is not None:
        props["value"] = value
        required.append("value")
    else:
        props["value"] = {"type": "null", "description": "not used; leave it out"}
    return {
        "type": "object",
        "description": doc,
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


_SCALAR = {"type": ["string", "number", "boolean"]}
_ORDERED = {"type": ["number", "string"]}
_LIST = {"type": "array", "maxItems": MAX_IN_VALUES}
OPERATOR_DOCS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "eq": ("equal (true is not 1)", {}),
    "ne": ("not equal", {}),
    "gt": ("greater than (numbers with numbers, strings with strings)", _ORDERED),
    "gte": ("greater than or equal", _ORDERED),
    "lt": ("less than", _ORDERED),
    "lte": ("less than or equal", _ORDERED),
    "in": ("one of the values (any item, for a list field)", _LIST),
    "not_in": ("none of the values", _LIST),
    "contains": ("a list holds the value, a string the substring, an object the key", _SCALAR),
    "not_contains": ("the opposite of contains", _SCALAR),
    "starts_with": ("a string field starts with the value", {"type": "string"}),
    "ends_with": ("a string field ends with the value", {"type": "string"}),
    "exists": ("the field is present and not null", None),
    "not_exists": ("the field is missing or null", None),
    "matches": (
        "RE2 regular expression search (linear time); values over 10,000 characters never match",
        {"type": "string", "minLength": 1, "maxLength": MAX_PATTERN_CHARS},
    ),
}  # fmt: skip
assert tuple(OPERATOR_DOCS) == OPERATORS


def _level(name: str, depth: int) -> str:
    """A level's component name: the top level keeps the plain name (Condition, AllConditions…)."""
    return name if depth == 1 else f"{name}_{depth}"


def condition_schemas() -> dict[str, dict[str, Any]]:
    """The conditions tree as JSON Schema components, one set per nesting level.

    The save refuses a node deeper than MAX_DEPTH (the top is level 1), so the tree is written
    out level by level instead of recursing: a group at level d holds level d+1 conditions, and
    level MAX_DEPTH is a comparison only (a group there could hold nothing valid). The schema
    then accepts exactly the depths the save does. (The limit of MAX_LEAVES comparisons in all
    is a count over the whole tree, which JSON Schema cannot state: it is in the description.)
    """
    components: dict[str, dict[str, Any]] = {}
    for depth in range(1, MAX_DEPTH):
        child = {"$ref": REF.format(name=_level("Condition", depth + 1))}
        if depth + 1 == MAX_DEPTH:
            child = {"$ref": REF.format(name="Comparison")}
        groups = [_level(n, depth) for n in ("AllConditions", "AnyConditions", "NotCondition")]
        components[_level("Condition", depth)] = {
            "description": 'A group ({"all": [...]}, {"any": [...]}, {"not": {...}}) or one '
            f"comparison; groups nest at most {MAX_DEPTH} levels deep (this is level {depth}), "
            f"with at most {MAX_LEAVES} comparisons in all.",
            "anyOf": [{"$ref": REF.format(name=n)} for n in (*groups, "Comparison")],
        }
        for name, key in zip(groups, ("all", "any", "not"), strict=True):
            value = child if key == "not" else {"type": "array", "items": child, "minItems": 1}
            components[name] = {
                "type": "object",
                "properties": {key: value},
                "required": [key],
                "additionalProperties": False,
            }
    leaves = {
        f"Comparison_{op}": _leaf((op,), value, doc) for op, (doc, value) in OPERATOR_DOCS.items()
    }
    components["Comparison"] = {
        "description": "One comparison; the operator decides what value must be.",
        "oneOf": [{"$ref": REF.format(name=n)} for n in leaves],
        "discriminator": {
            "propertyName": "operator",
            "mapping": {op: REF.format(name=f"Comparison_{op}") for op in OPERATOR_DOCS},
        },
    }
    return {**components, **leaves}


def _schema_hook(kind: type) -> dict[str, Any]:
    if kind is Condition:
        return {"$ref": REF.format(name="Condition")}
    if kind is TriggerConfig:
        return {"anyOf": [{"$ref": REF.format(name=n)} for n in _TRIGGER_SCHEMA_NAMES.values()]}
    # msgspec's schema_hook protocol: NotImplementedError means "no schema for this type".
    raise NotImplementedError


def language_schemas() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """({"create", "patch", "action", "definition"}: top schemas, components), as JSON Schema."""
    tops, components = msgspec.json.schema_components(
        [
            WorkflowDefinition,
            WorkflowFromTemplate,
            WorkflowPatch,
            Action,
            *TRIGGER_CONFIGS.values(),
        ],
        schema_hook=_schema_hook,
        ref_template=REF,
    )
    definition, from_template, patch, action = tops[:4]
    components["WorkflowDefinition"] = definition
    components["Action"] = action
    components.update(condition_schemas())
    _status_change_must_differ(components)
    _save_rules(components)
    create = {"anyOf": [{"$ref": REF.format(name="WorkflowDefinition")}, from_template]}
    return {"create": create, "patch": patch}, components


def _status_change_must_differ(components: dict[str, dict[str, Any]]) -> None:
    same = [
        {
            "properties": {"from": {"const": s}, "to": {"const": s}},
            "required": ["from", "to"],
        }
        for s in ("LEAD", "ACTIVE", "INACTIVE", "CHURNED")
    ]
    components["ClientStatusChangedTrigger"]["not"] = {"anyOf": same}


# A template with a "{" that opens no tag, or text only: what a literal-or-template field may be
# for the save to skip its literal check (a "{{"/"{%"/"{#" makes it a template, checked apart).
_PLACEHOLDER = r"(?=[\s\S]*\{)(?:[^{]|\{(?![{%#]))*"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_LOCAL = r"[A-Za-z0-9_%+-]{1,20}(?:\.[A-Za-z0-9_%+-]{1,20}){0,3}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?"
_EMAIL = rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL}){{0,3}}\.[A-Za-z]{{2,10}}"
# A display name of plain words (a "." or "," would need quotes).
_MAILBOX = rf"(?:{_EMAIL}|[A-Za-z0-9][A-Za-z0-9 '-]{{0,60}} <{_EMAIL}>)"
_ISO = (
    r"[1-9]\d{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])T(?:[01]\d|2[0-3]):[0-5]\d"
    r"(?::[0-5]\d(?:\.\d{1,6})?)?(?:Z|[+-](?:0\d|1[0-3]):[0-5]\d)"
)


def _placeholder(paths: str) -> str:
    """`{{ <path> }}` (with an optional `| default('…')`), the template such a field holds."""
    return rf"\s*\{{\{{ *(?:{paths}) *(?:\| *default\('[^'{{}}%#]*'\) *)?\}}\}}\s*"


# Keys a template reads with a dot: Jinja names (a digit first would read as a number) that do
# not start with "_" (the sandbox refuses those).
_OPEN = r"(?:event\.payload|client\.custom_fields)(?:\.[A-Za-z][A-Za-z0-9_]{0,39}){1,5}"


def _save_rules(c: dict[str, dict[str, Any]]) -> None:
    """What the save checks beyond types, written into the schemas where JSON Schema can say it
    (a schema-valid definition is one the save accepts; tested by schemathesis)."""
    props = c["SendEmailConfig"]["properties"]
    to_template = _placeholder(rf"client\.email|{_OPEN}")
    props["to"]["pattern"] = f"^(?:{_MAILBOX}|{to_template}|{_PLACEHOLDER})$"
    props["to"]["description"] = "one email address, or a template rendering to one"
    task = c["CreateTaskConfig"]["properties"]
    task["assignee"] = {
        "anyOf": [{"type": "string", "pattern": f"^(?:owner|{_UUID})$"}, {"type": "null"}],
        "description": '"owner" (the client\'s owner), a user id, or null',
    }
    update = c["UpdateClientConfig"]
    update["description"] = "Sets at least one field."
    update["anyOf"] = [
        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
        for name in update["properties"]
    ]
    hook = c["WebhookConfig"]["properties"]
    hook["url"]["pattern"] = f"^(?:[hH][tT][tT][pP][sS]?://[\\s\\S]*|{_PLACEHOLDER})$"
    hook["headers"]["additionalProperties"]["maxLength"] = 8192
    hook["secret"] = {
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": "^(?!whsec_|gAAAA)"},
            {"type": "string", "pattern": "^whsec_(?:[A-Za-z0-9+/]{4}){8,16}$"},
            {"type": "null"},
        ],
        "description": 'a whsec_ secret (24-64 bytes, base64), or "[redacted]" to keep the '
        "stored one",
    }
    delay = c["DelayConfig"]
    until = f"^(?:{_ISO}|{_placeholder(_OPEN)}|{_PLACEHOLDER})$"
    delay["properties"]["until"]["anyOf"][0]["pattern"] = until
    delay["description"] = 'Exactly one of "duration" (longer than zero) or "until".'
    delay["oneOf"] = [
        {"required": ["duration"], "properties": {"duration": {"type": "object"}}},
        {"required": ["until"], "properties": {"until": {"type": "string"}}},
    ]
    c["Duration"]["anyOf"] = [
        {"required": [unit], "properties": {unit: {"minimum": 1}}}
        for unit in ("days", "hours", "minutes", "seconds")
    ]
    for name in ("ClientCreatedWorkflow", "ClientStatusChangedWorkflow",
                 "DocumentUploadedWorkflow", "CustomWorkflow", "ManualWorkflow"):  # fmt: skip
        workflow = c[name]["properties"]
        workflow["name"]["pattern"] = NAME_PATTERN
        # {} at the top means "always", like null.
        workflow["conditions"]["anyOf"].append({"type": "object", "maxProperties": 0})
    patch = c["WorkflowPatch"]["properties"]
    patch["name"]["pattern"] = NAME_PATTERN
    patch["conditions"]["anyOf"].append({"type": "object", "maxProperties": 0})
    for variant in c["WorkflowFromTemplate"]["properties"]["name"].get("anyOf", []):
        if variant.get("type") == "string":
            variant["pattern"] = NAME_PATTERN
    c["Comparison_matches"]["properties"]["value"]["format"] = "regex"
    c["WorkflowFromTemplate"]["properties"]["from_template"] = {
        "anyOf": [{"enum": sorted(_template_keys())}, {"type": "string", "pattern": f"^{_UUID}$"}],
        "description": "a shipped template's key, or the id of one of your templates",
    }


def _template_keys() -> list[str]:
    from app.workflows.library import BY_KEY

    return list(BY_KEY)


def _set_body(openapi: OpenAPI, path: str, method: str, schema: dict[str, Any]) -> None:
    item = (openapi.paths or {}).get(path)
    operation: Operation | None = getattr(item, method, None) if item else None
    if operation is None or not isinstance(operation.request_body, RequestBody):
        return
    operation.request_body.content["application/json"].schema = schema  # type: ignore[assignment]


def _type_workflow_out(schemas: dict[str, Any]) -> None:
    out = schemas.get("WorkflowOut")
    if not isinstance(out, Schema) or not out.properties:
        return
    out.properties["actions"] = {"type": "array", "items": {"$ref": REF.format(name="Action")}}  # type: ignore[assignment]
    out.properties["conditions"] = {  # type: ignore[assignment]
        "anyOf": [{"$ref": REF.format(name="Condition")}, {"type": "null"}]
    }
    out.properties["trigger_config"] = _schema_hook(TriggerConfig)  # type: ignore[assignment]


def install_openapi(app: Litestar) -> None:
    """Describe the workflow language in the app's OpenAPI document (built once, here)."""
    openapi = app.plugins.get(OpenAPIPlugin).provide_openapi()
    tops, components = language_schemas()
    assert openapi.components is not None
    schemas: dict[str, Any] = dict(openapi.components.schemas or {})
    schemas.update(components)
    _type_workflow_out(schemas)
    openapi.components.schemas = schemas
    _set_body(openapi, "/api/v1/workflows", "post", tops["create"])
    _set_body(openapi, "/api/v1/workflows/{workflow_id}", "patch", tops["patch"])
    _set_body(openapi, "/api/v1/workflows/import", "post", _import_schema())


def _import_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "a document from GET /workflows/export",
        "properties": {
            "format": {"type": "string"},
            "exported_at": {"type": "string"},
            "ids": {"type": "array", "items": {"type": "string"}},
            "workflows": {
                "type": "array",
                "items": {"$ref": REF.format(name="WorkflowDefinition")},
                "minItems": 1,
                "maxItems": 200,
            },
            "users": {"type": "object", "additionalProperties": {"type": "string"}},
            "secrets_removed": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["workflows"],
        "additionalProperties": False,
    }


__all__ = [
    "ACTION_TYPES",
    "TRIGGER_CONFIGS",
    "Reference",
    "WorkflowDefinition",
    "WorkflowFromTemplate",
    "WorkflowPatch",
    "condition_schemas",
    "install_openapi",
    "language_schemas",
]
