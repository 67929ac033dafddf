"""The whole-definition check run on every save, plus the secret handling of WEBHOOK steps.

Every problem in a workflow is collected (name, trigger, conditions, each action) so one 422
lists them all, each with its JSON path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.audit.service import REDACTED
from app.core.config import get_settings
from app.core.crypto import SecretDecryptError, decrypt_secret, encrypt_secret, is_encrypted
from app.core.errors import FieldError, UnprocessableError
from app.core.jsonbody import MAX_JSON_DEPTH
from app.webhooks import standard
from app.workflows.conditions import normalize_conditions, validate_conditions
from app.workflows.credentials import protect_webhook_headers
from app.workflows.credentials import redact_actions as redact_actions  # its old home
from app.workflows.definition import dump_actions, validate_actions
from app.workflows.triggers import validate_trigger

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 5_000
MAX_SECRET_CHARS = 1_000


@dataclass(frozen=True, slots=True)
class Definition:
    """A validated, normalised definition, ready to store."""

    trigger_type: str
    trigger_config: dict[str, Any]
    conditions: dict[str, Any] | None
    actions: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "trigger_type": self.trigger_type,
            "trigger_config": self.trigger_config,
            "conditions": self.conditions,
            "actions": self.actions,
        }


def too_deep(value: Any, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Does a JSON value nest deeper than max_depth? Iterative, so any depth is safe to ask."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def depth_errors(fields: dict[str, Any]) -> list[FieldError]:
    """FieldErrors for the JSON values (by path) nesting too deep to be checked further."""
    return [
        FieldError(path, f"nests deeper than {MAX_JSON_DEPTH} levels")
        for path, value in fields.items()
        if too_deep(value)
    ]


def name_errors(name: Any, description: Any) -> list[FieldError]:
    errors: list[FieldError] = []
    if name is not None and (not isinstance(name, str) or not name.strip()):
        errors.append(FieldError("$.name", "must not be blank"))
    elif isinstance(name, str) and len(name) > MAX_NAME_CHARS:
        errors.append(FieldError("$.name", f"must be at most {MAX_NAME_CHARS} characters"))
    if isinstance(description, str) and len(description) > MAX_DESCRIPTION_CHARS:
        errors.append(
            FieldError("$.description", f"must be at most {MAX_DESCRIPTION_CHARS} characters")
        )
    return errors


def protect_webhook_secrets(
    actions: list[dict[str, Any]],
    previous: list[dict[str, Any]] | None,
    path: str = "$.actions",
) -> list[FieldError]:
    """Encrypt WEBHOOK secrets in place before storing.

    "[redacted]" (what the API shows for a stored secret) keeps the secret the step at the same
    index already has, so a definition read from the API can be sent back unchanged.
    """
    errors: list[FieldError] = []
    for i, action in enumerate(actions):
        config = action.get("config") or {}
        secret = config.get("secret") if action.get("type") == "WEBHOOK" else None
        if secret is None:
            continue
        spath = f"{path}[{i}].config.secret"
        if secret == REDACTED:
            old = previous[i] if previous and i < len(previous) else None
            old_secret = (old or {}).get("config", {}).get("secret")
            if old is None or old.get("type") != "WEBHOOK" or not old_secret:
                errors.append(FieldError(spath, "no stored secret to keep here; send the secret"))
            else:
                config["secret"] = old_secret
        elif not secret:
            errors.append(FieldError(spath, "must not be empty; leave it out for no signing"))
        elif len(secret) > MAX_SECRET_CHARS or is_encrypted(secret):
            errors.append(FieldError(spath, "is not an acceptable secret"))
        elif problem := standard.whsec_problem(secret):
            errors.append(FieldError(spath, problem))
        else:
            old = previous[i] if previous and i < len(previous) else None
            config["secret"] = encrypt_secret(_rotated(old, secret))
    return errors


def _rotated(old_action: dict[str, Any] | None, new_secret: str) -> str:
    """The plaintext to store for a step's new secret: a keyring that keeps the step's previous
    secret signing for WEBHOOK_SECRET_GRACE_S, so the receiver can switch without a gap."""
    old_stored = ((old_action or {}).get("config") or {}).get("secret")
    if not old_stored or (old_action or {}).get("type") != "WEBHOOK":
        return new_secret
    try:
        keyring = (
            standard.load_keyring(decrypt_secret(old_stored))
            if is_encrypted(old_stored)
            else standard.Keyring(current=old_stored)
        )
    except SecretDecryptError:
        return new_secret
    if keyring.current == new_secret:
        return keyring.dump()
    return keyring.rotated(new_secret, grace_s=get_settings().webhook_secret_grace_s).dump()


def check_definition(
    *,
    trigger_type: Any,
    trigger_config: Any,
    conditions: Any,
    actions: Any,
    previous_actions: list[dict[str, Any]] | None = None,
    extra_errors: list[FieldError] | None = None,
) -> Definition:
    """The normalised definition, or UnprocessableError listing every problem with its path."""
    errors = list(extra_errors or [])
    deep = depth_errors(
        {"$.trigger_config": trigger_config, "$.conditions": conditions, "$.actions": actions}
    )
    if deep:
        raise UnprocessableError("The workflow has invalid fields.", errors=errors + deep)
    errors += validate_trigger(trigger_type, trigger_config)
    errors += validate_conditions(conditions)
    parsed, action_errors = validate_actions(actions)
    errors += action_errors
    stored_actions = dump_actions(parsed)
    if not action_errors:
        errors += protect_webhook_secrets(stored_actions, previous_actions)
        errors += protect_webhook_headers(stored_actions, previous_actions)
    if errors:
        raise UnprocessableError("The workflow has invalid fields.", errors=errors)
    return Definition(
        trigger_type=str(trigger_type),
        trigger_config=dict(trigger_config),
        conditions=normalize_conditions(conditions),
        actions=stored_actions,
    )
