"""A workflow's action list as typed msgspec structs: one tagged union, validated on save.

Stored JSON (workflows.actions) round-trips through `parse_actions` / `dump_actions`; the engine
parses the definition an execution recorded and hands each step's `config` struct to its handler.
"""

from __future__ import annotations

import re
import types
import typing
from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias, TypeVar, get_type_hints
from uuid import UUID

import msgspec

from app.core.errors import FieldError, UnprocessableError
from app.emails.addresses import recipient_problem
from app.workflows.templating import TemplateError, render_value, template_errors

MAX_ACTIONS = 50
MAX_TEMPLATE_CHARS = 20_000

Priority = Literal["LOW", "MEDIUM", "HIGH", "URGENT"]
ClientStatusValue = Literal["LEAD", "ACTIVE", "INACTIVE", "CHURNED"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
OnError = Literal["stop", "continue"]

NonNegInt = Annotated[int, msgspec.Meta(ge=0, le=3650 * 24 * 60 * 60)]
Template = Annotated[str, msgspec.Meta(max_length=MAX_TEMPLATE_CHARS)]


class _Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    pass


class RetryPolicy(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    backoff_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 1.0
    max_backoff_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 60.0


class SendEmailConfig(_Config):
    to: Template
    subject: Template
    body: Template


class DueIn(_Config):
    days: NonNegInt = 0
    hours: NonNegInt = 0
    minutes: NonNegInt = 0

    def total_seconds(self) -> int:
        return ((self.days * 24 + self.hours) * 60 + self.minutes) * 60


class CreateTaskConfig(_Config):
    title: Template
    description: Template = ""
    priority: Priority = "MEDIUM"
    due_in: DueIn | None = None
    # "owner" (the client's owner), a user id, or nobody.
    assignee: str | None = None


class UpdateClientConfig(_Config):
    name: Template | None = None
    email: Template | None = None
    phone: Template | None = None
    company: Template | None = None
    status: ClientStatusValue | None = None
    # Values may hold templates at any depth; rendered with render_value.
    custom_fields: dict[str, Any] | None = None

    def changes(self) -> dict[str, Any]:
        """The fields this step sets (unset ones are None and left alone)."""
        return {k: v for k, v in msgspec.structs.asdict(self).items() if v is not None}


class TagConfig(_Config):
    tag: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class AddNoteConfig(_Config):
    body: Template


class WebhookConfig(_Config):
    url: Template
    method: HttpMethod = "POST"
    headers: dict[str, Template] = msgspec.field(default_factory=dict)
    # A template string, or JSON whose strings are templates (rendered with render_value).
    body: Any = None
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0
    # Encrypted on save (app.workflows.validation.protect_webhook_secrets); never returned.
    secret: str | None = None


class Duration(_Config):
    days: NonNegInt = 0
    hours: NonNegInt = 0
    minutes: NonNegInt = 0
    seconds: NonNegInt = 0

    def total_seconds(self) -> int:
        return ((self.days * 24 + self.hours) * 60 + self.minutes) * 60 + self.seconds


class DelayConfig(_Config):
    duration: Duration | None = None
    # An ISO-8601 datetime with offset, or a template rendering to one.
    until: Template | None = None


class _Step(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    retry: RetryPolicy = msgspec.field(default_factory=RetryPolicy)
    on_error: OnError = "stop"


class SendEmailStep(_Step, tag="SEND_EMAIL"):
    config: SendEmailConfig


class CreateTaskStep(_Step, tag="CREATE_TASK"):
    config: CreateTaskConfig


class UpdateClientStep(_Step, tag="UPDATE_CLIENT"):
    config: UpdateClientConfig


class AddTagStep(_Step, tag="ADD_TAG"):
    config: TagConfig


class RemoveTagStep(_Step, tag="REMOVE_TAG"):
    config: TagConfig


class AddNoteStep(_Step, tag="ADD_NOTE"):
    config: AddNoteConfig


class WebhookStep(_Step, tag="WEBHOOK"):
    config: WebhookConfig


class DelayStep(_Step, tag="DELAY"):
    config: DelayConfig


Action: TypeAlias = (
    SendEmailStep
    | CreateTaskStep
    | UpdateClientStep
    | AddTagStep
    | RemoveTagStep
    | AddNoteStep
    | WebhookStep
    | DelayStep
)

STEP_TYPES: dict[str, type[_Step]] = {
    "SEND_EMAIL": SendEmailStep,
    "CREATE_TASK": CreateTaskStep,
    "UPDATE_CLIENT": UpdateClientStep,
    "ADD_TAG": AddTagStep,
    "REMOVE_TAG": RemoveTagStep,
    "ADD_NOTE": AddNoteStep,
    "WEBHOOK": WebhookStep,
    "DELAY": DelayStep,
}
ACTION_TYPES = tuple(STEP_TYPES)
CONFIG_TYPES: dict[str, type[_Config]] = {
    "SEND_EMAIL": SendEmailConfig,
    "CREATE_TASK": CreateTaskConfig,
    "UPDATE_CLIENT": UpdateClientConfig,
    "ADD_TAG": TagConfig,
    "REMOVE_TAG": TagConfig,
    "ADD_NOTE": AddNoteConfig,
    "WEBHOOK": WebhookConfig,
    "DELAY": DelayConfig,
}
_STEP_KEYS = {"type", "config", "retry", "on_error"}

# Which config fields are templates; "*" marks a JSON value whose nested strings are templates.
TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    "SEND_EMAIL": ("to", "subject", "body"),
    "CREATE_TASK": ("title", "description"),
    "UPDATE_CLIENT": ("name", "email", "phone", "company", "custom_fields*"),
    "ADD_TAG": ("tag",),
    "REMOVE_TAG": ("tag",),
    "ADD_NOTE": ("body",),
    "WEBHOOK": ("url", "headers*", "body*"),
    "DELAY": ("until",),
}

_MSGSPEC_ERROR = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.DOTALL)
_FIELD_IN_MSG = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<f>[^`]+)`")


def msgspec_field_error(exc: msgspec.ValidationError, prefix: str) -> FieldError:
    """Turn msgspec's single error into a FieldError whose path starts at `prefix`."""
    m = _MSGSPEC_ERROR.match(str(exc))
    message = m.group("msg") if m else str(exc)
    sub = (m.group("path") if m and m.group("path") else "$")[1:]
    f = _FIELD_IN_MSG.match(message)
    if f:
        sub += f".{f.group('f')}"
        message = (
            "is required" if "missing required" in message else "is not a known field"
        ) + f" ({message})"
    return FieldError(prefix + sub, message)


def _struct_type(hint: Any) -> type[msgspec.Struct] | None:
    """The Struct a field's type names (through Annotated and `| None`), if any."""
    while typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = members[0] if len(members) == 1 else None
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        return hint
    return None


def _wants_int(hint: Any) -> bool:
    while typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return int in typing.get_args(hint) and float not in typing.get_args(hint)
    return hint is int


def convert_all(raw: Any, kind: Any, path: str) -> tuple[Any, list[FieldError]]:
    """msgspec.convert, but a Struct reports every bad field (msgspec stops at the first), and
    an integer written as 2.0 is the integer 2 (JSON Schema's "integer" allows it)."""
    if isinstance(raw, float) and raw.is_integer() and _wants_int(kind):
        raw = int(raw)
    try:
        return msgspec.convert(raw, kind), []
    except msgspec.ValidationError as first:
        struct = _struct_type(kind)
        if struct is None or not isinstance(raw, dict):
            return None, [msgspec_field_error(first, path)]
        hints = get_type_hints(struct, include_extras=True)
        fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
        errors = [
            FieldError(f"{path}.{key}", "is not a known field") for key in raw if key not in fields
        ]
        values: dict[str, Any] = {}
        for name, field in fields.items():
            if name not in raw:
                if field.required:
                    errors.append(FieldError(f"{path}.{name}", "is required"))
                continue
            value, errs = convert_all(raw[name], hints[field.name], f"{path}.{name}")
            errors += errs
            values[name] = msgspec.to_builtins(value)
        if errors:
            return None, errors
        try:
            return msgspec.convert(values, struct), []
        except msgspec.ValidationError as exc:
            return None, [msgspec_field_error(exc, path)]


def _template_field_errors(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, str):
        return [FieldError(path, msg) for msg in template_errors(value)]
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in _template_field_errors(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [e for i, v in enumerate(value) for e in _template_field_errors(v, f"{path}[{i}]")]
    return []


def _datetime_problem(text: str) -> str | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return "must be an ISO-8601 date-time (or a template rendering to one)"
    return None if value.tzinfo else "must carry a UTC offset, e.g. 2030-01-01T09:00:00+00:00"


def _semantic_errors(kind: str, config: _Config, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for name in TEMPLATE_FIELDS[kind]:
        field = name.rstrip("*")
        value = getattr(config, field)
        if value is not None:
            errors += _template_field_errors(value, f"{path}.{field}")
    if isinstance(config, CreateTaskConfig) and config.assignee not in (None, "owner"):
        try:
            UUID(str(config.assignee))
        except ValueError:
            errors.append(FieldError(f"{path}.assignee", 'must be "owner", a user id or null'))
    if isinstance(config, UpdateClientConfig) and not config.changes():
        errors.append(FieldError(path, "must set at least one field"))
    if isinstance(config, DelayConfig) and (config.duration is None) == (config.until is None):
        errors.append(FieldError(path, 'needs exactly one of "duration" or "until"'))
    if isinstance(config, DelayConfig) and config.duration and config.duration.total_seconds() <= 0:
        errors.append(FieldError(f"{path}.duration", "must be longer than zero"))
    if isinstance(config, DelayConfig) and config.until and "{" not in config.until:
        problem = _datetime_problem(config.until)
        if problem:
            errors.append(FieldError(f"{path}.until", problem))
    if isinstance(config, SendEmailConfig) and "{" not in config.to:
        # A literal recipient is checked now; a templated one when the step renders it.
        problem = recipient_problem(config.to)
        if problem:
            errors.append(FieldError(f"{path}.to", f"is not exactly one email address: {problem}"))
    if (
        isinstance(config, WebhookConfig)
        and "{" not in config.url
        and not config.url.lower().startswith(("http://", "https://"))
    ):
        errors.append(FieldError(f"{path}.url", "must be an http:// or https:// URL"))
    return errors


def validate_action(raw: Any, path: str) -> tuple[Action | None, list[FieldError]]:
    """Check one action item, reporting every problem found in it (not just the first)."""
    if not isinstance(raw, dict):
        return None, [FieldError(path, "must be an object")]
    errors = [FieldError(f"{path}.{k}", "is not a known field") for k in raw if k not in _STEP_KEYS]
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in STEP_TYPES:
        errors.append(FieldError(f"{path}.type", f"must be one of {', '.join(ACTION_TYPES)}"))
        return None, errors
    config: _Config | None = None
    if "config" not in raw:
        errors.append(FieldError(f"{path}.config", "is required"))
    else:
        config, config_errors = convert_all(raw["config"], CONFIG_TYPES[kind], f"{path}.config")
        errors += config_errors
    retry = RetryPolicy()
    if "retry" in raw:
        retry, retry_errors = convert_all(raw["retry"], RetryPolicy, f"{path}.retry")
        errors += retry_errors
    on_error = raw.get("on_error", "stop")
    if on_error not in ("stop", "continue"):
        errors.append(FieldError(f"{path}.on_error", 'must be "stop" or "continue"'))
    if config is not None:
        errors += _semantic_errors(kind, config, f"{path}.config")
    if errors or config is None:
        return None, errors
    step = STEP_TYPES[kind](config=config, retry=retry, on_error=on_error)  # type: ignore[call-arg]
    return step, []  # type: ignore[return-value]


def validate_actions(raw: Any, path: str = "$.actions") -> tuple[list[Action], list[FieldError]]:
    """Every action checked; all errors at once, each with its JSON path."""
    if not isinstance(raw, list):
        return [], [FieldError(path, "must be a list")]
    if not raw:
        return [], [FieldError(path, "must hold at least one action")]
    if len(raw) > MAX_ACTIONS:
        return [], [FieldError(path, f"must hold at most {MAX_ACTIONS} actions")]
    actions: list[Action] = []
    errors: list[FieldError] = []
    for i, item in enumerate(raw):
        action, errs = validate_action(item, f"{path}[{i}]")
        errors += errs
        if action is not None:
            actions.append(action)
    return actions, errors


def parse_actions(raw: list[Any]) -> list[Action]:
    """Validated actions, or UnprocessableError listing every invalid field's JSON path."""
    actions, errors = validate_actions(raw)
    if errors:
        raise UnprocessableError("The workflow's actions are invalid.", errors=errors)
    return actions


def dump_actions(actions: list[Action]) -> list[dict[str, Any]]:
    """The JSON stored in workflows.actions (defaults filled in)."""
    return [msgspec.to_builtins(a) for a in actions]


def load_actions(stored: list[Any]) -> list[Action]:
    """Decode actions already validated on save (no template re-check); the engine's fast path."""
    return msgspec.convert(stored, list[Action])


_FIELDS_OF: dict[type[_Config], tuple[str, ...]] = {
    CONFIG_TYPES[kind]: tuple(name.rstrip("*") for name in names)
    for kind, names in TEMPLATE_FIELDS.items()
}
ConfigT = TypeVar("ConfigT", bound=msgspec.Struct)


def render_fields(config: ConfigT, variables: dict[str, Any]) -> ConfigT:
    """The same config with every template field rendered; TemplateError.field names the field.
    CPU work: the engine and the dry run call it through templating.off_loop."""
    changes: dict[str, Any] = {}
    for field in _FIELDS_OF[type(config)]:  # type: ignore[index]
        value = getattr(config, field)
        if value is None:
            continue
        try:
            changes[field] = render_value(value, variables)
        except TemplateError as exc:
            exc.field = field
            raise
    return msgspec.structs.replace(config, **changes)


def render_config(action: Action, variables: dict[str, Any]) -> dict[str, Any]:
    """The step's config as JSON with every template field rendered; raises TemplateError."""
    rendered: dict[str, Any] = msgspec.to_builtins(render_fields(action.config, variables))
    return rendered


def action_type(action: Action) -> str:
    """The step's tag, e.g. "SEND_EMAIL"."""
    return str(type(action).__struct_config__.tag)


__all__ = [
    "ACTION_TYPES",
    "Action",
    "AddNoteConfig",
    "AddNoteStep",
    "AddTagStep",
    "CreateTaskConfig",
    "CreateTaskStep",
    "DelayConfig",
    "DelayStep",
    "DueIn",
    "Duration",
    "RemoveTagStep",
    "RetryPolicy",
    "SendEmailConfig",
    "SendEmailStep",
    "TagConfig",
    "UpdateClientConfig",
    "UpdateClientStep",
    "WebhookConfig",
    "WebhookStep",
    "action_type",
    "dump_actions",
    "load_actions",
    "parse_actions",
    "render_config",
    "render_fields",
    "validate_actions",
]
