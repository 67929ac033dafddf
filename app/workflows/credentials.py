"""Credentials inside a workflow definition: WEBHOOK `secret` and every WEBHOOK header value.

Header values are where people put `Authorization: Bearer …`, `X-Api-Key: …` or a cookie, so every
value is treated as a credential (a header name is not): encrypted at rest with the same key as
secrets, and replaced by "[redacted]" in everything that leaves the service — the workflow API,
the audit trail, the dry run, an execution's recorded definition and its step input logs.
`redact_config` / `redact_actions` are the ONE redaction used for all of them.

Sending "[redacted]" back for a header keeps the value the step at the same index stores under
the same header name (case-insensitive), as for `secret`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from app.audit.service import REDACTED
from app.core.config import Settings, get_settings
from app.core.crypto import decrypt_secret, encrypt_secret, is_encrypted
from app.core.errors import FieldError
from app.workflows.definition import WebhookConfig

A = TypeVar("A", bound=msgspec.Struct)

# Servers commonly refuse header blocks over 8 KiB; the bound also keeps the ciphertext within
# the template length the stored definition is checked against.
MAX_HEADER_VALUE_CHARS = 8_192
# Config keys whose value (or, for "headers", every value inside) is a credential.
_SECRET_KEY = "secret"  # noqa: S105 - a config key name, not a password
_HEADERS_KEY = "headers"


def _previous_headers(previous: list[dict[str, Any]] | None, index: int) -> dict[str, str]:
    old = previous[index] if previous and index < len(previous) else None
    if not old or old.get("type") != "WEBHOOK":
        return {}
    headers = (old.get("config") or {}).get(_HEADERS_KEY) or {}
    return {str(k).lower(): v for k, v in headers.items() if isinstance(v, str)}


def protect_webhook_headers(
    actions: list[dict[str, Any]],
    previous: list[dict[str, Any]] | None,
    path: str = "$.actions",
) -> list[FieldError]:
    """Encrypt every WEBHOOK header value in place before storing; "[redacted]" keeps the old."""
    errors: list[FieldError] = []
    for i, action in enumerate(actions):
        if action.get("type") != "WEBHOOK":
            continue
        config = action.get("config") or {}
        headers = config.get(_HEADERS_KEY) or {}
        old_headers = _previous_headers(previous, i)
        protected: dict[str, str] = {}
        for name, value in headers.items():
            hpath = f"{path}[{i}].config.headers.{name}"
            if value == REDACTED:
                old = old_headers.get(str(name).lower())
                if old is None or old == REDACTED:
                    errors.append(
                        FieldError(hpath, "no stored value to keep here; send the header's value")
                    )
                    continue
                # A value stored in clear before encryption existed is encrypted now.
                protected[name] = old if is_encrypted(old) else encrypt_secret(old)
            elif is_encrypted(value):
                errors.append(FieldError(hpath, "is not an acceptable header value"))
            elif len(value) > MAX_HEADER_VALUE_CHARS:
                errors.append(
                    FieldError(hpath, f"must be at most {MAX_HEADER_VALUE_CHARS} characters")
                )
            else:
                protected[name] = encrypt_secret(value)
        if headers:
            config[_HEADERS_KEY] = protected
    return errors


def plain_headers(headers: Mapping[str, str], *, settings: Settings) -> dict[str, str]:
    """Stored header values as their templates (raises SecretDecryptError)."""
    return {
        name: decrypt_secret(value, settings=settings) if is_encrypted(value) else value
        for name, value in headers.items()
    }


def plain_webhook_config(config: WebhookConfig, *, settings: Settings) -> WebhookConfig:
    """The config with its header templates decrypted, ready to render (SecretDecryptError)."""
    if not config.headers:
        return config
    return msgspec.structs.replace(config, headers=plain_headers(config.headers, settings=settings))


def with_plain_headers(action: A, *, settings: Settings | None = None) -> A:
    """The action with its WEBHOOK header templates decrypted, ready to render."""
    config = getattr(action, "config", None)
    if not isinstance(config, WebhookConfig) or not config.headers:
        return action
    plain = plain_webhook_config(config, settings=settings or get_settings())
    return msgspec.structs.replace(action, config=plain)


def redact_config(config: Any) -> Any:
    """A step config as it may be shown: secret and every header value "[redacted]"."""
    if not isinstance(config, Mapping):
        return config
    out = dict(config)
    if out.get(_SECRET_KEY):
        out[_SECRET_KEY] = REDACTED
    headers = out.get(_HEADERS_KEY)
    if isinstance(headers, Mapping):
        out[_HEADERS_KEY] = {name: REDACTED for name in headers}
    return out


def redact_actions(actions: list[Any]) -> list[Any]:
    """Actions as the API shows them (stored or recorded on an execution)."""
    return [
        {**action, "config": redact_config(action.get("config"))}
        if isinstance(action, Mapping)
        else action
        for action in actions
    ]


def redact_definition(definition: Any) -> Any:
    """An execution's recorded definition ({"name", "actions", …}) as it may be shown."""
    if not isinstance(definition, Mapping) or not isinstance(definition.get("actions"), list):
        return definition
    return {**definition, "actions": redact_actions(definition["actions"])}
