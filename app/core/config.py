"""Settings: one object, read once from the environment, with clear errors for bad values."""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import msgspec

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class EmailMode(StrEnum):
    DRAFT_ONLY = "DRAFT_ONLY"
    SEND = "SEND"


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class ConfigError(Exception):
    """The environment holds a value the service cannot run with."""


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    # None means: start the embedded PostgreSQL in data_dir/pg and use it.
    database_url: str | None = None
    # None means: the SAQ Postgres queue on the same database. "redis://..." selects Redis.
    queue_url: str | None = None
    environment: Environment = Environment.DEVELOPMENT
    data_dir_path: str = str(PROJECT_ROOT / ".data")
    host: str = "127.0.0.1"
    # 0: the OS picks a free port (uvicorn's "running on" line says which).
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    log_level: str = "INFO"
    # auto: JSON lines in production, readable console lines otherwise.
    log_format: LogFormat = LogFormat.AUTO
    # The API process also runs a worker unless told otherwise; production runs them apart.
    run_worker_in_api: bool = True
    worker_concurrency: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    # Fairness: how many event jobs of one tenant run at once, over all workers (the others of
    # that tenant wait in the outbox, so another tenant's events never queue behind a flood).
    # 2: a flooding tenant's batches leave the worker's event loop to the others (bench.py's
    # fairness phase: tenant B's p99 1.0 s at 2, 4.8 s at 8, for ~20% less of A's throughput).
    tenant_concurrency: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 2
    db_pool_max_size: Annotated[int, msgspec.Meta(ge=1, le=500)] = 20
    max_chain_depth: Annotated[int, msgspec.Meta(ge=0, le=100)] = 5
    upload_max_bytes: Annotated[int, msgspec.Meta(ge=1)] = 10 * 1024 * 1024
    # Used to encrypt stored secrets (webhook signing secrets); required in production.
    secret_key: str | None = None
    email_mode: EmailMode = EmailMode.DRAFT_ONLY
    email_allowlist: list[str] = []
    email_from: str = "crmflow@localhost"
    smtp_host: str = "127.0.0.1"
    smtp_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # Hosts/CIDRs an outbound WEBHOOK may reach even though they are private or loopback.
    webhook_allowlist: list[str] = []
    webhook_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0
    inbound_webhook_max_bytes: Annotated[int, msgspec.Meta(ge=1)] = 256 * 1024
    inbound_webhook_tolerance_s: Annotated[int, msgspec.Meta(ge=1)] = 300
    # After a secret rotation, the previous secret keeps verifying (inbound) and signing
    # (outbound) this long, so senders and receivers can switch without a gap.
    webhook_secret_grace_s: Annotated[int, msgspec.Meta(ge=0, le=30 * 24 * 3600)] = 86_400
    # The address senders reach this service at (scheme://host[:port][/prefix]), as a proxy in
    # front of it publishes it. HubSpot signs the public URI it posted to; unset = the URL the
    # request arrived with.
    public_base_url: (
        Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")] | None
    ) = None
    # How often the sweeps (undispatched events, orphaned/due executions, emails) run.
    sweep_interval_s: Annotated[float, msgspec.Meta(ge=0.5, le=3600)] = 5.0
    # Metrics: the workflow id as a label is opt-in (one series per workflow can be many).
    metrics_workflow_label: bool = False
    # A standalone `crmflow worker` serves /metrics here (0: the OS picks one, logged).
    worker_metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 9100
    # Retention (tenants may override each, see `crmflow retention`): finished executions with
    # their logs, dispatched events, inbound-delivery dedup rows, sent/rejected emails.
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=36500)] = 14
    retention_max_rows: Annotated[int, msgspec.Meta(ge=1)] = 1_000_000
    audit_retention_days: Annotated[int, msgspec.Meta(ge=1, le=36500)] = 365
    prune_interval_s: Annotated[float, msgspec.Meta(ge=1, le=86400)] = 300.0
    prune_batch_size: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000

    @property
    def data_dir(self) -> Path:
        return Path(self.data_dir_path)

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.data_dir / "pg"


_LIST_FIELDS = {"email_allowlist", "webhook_allowlist"}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build Settings from CRMFLOW-style environment variables (upper-case field names)."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for name in Settings.__struct_fields__:
        value = env.get(name.upper())
        if value is None or value == "":
            continue
        raw[name] = _csv(value) if name in _LIST_FIELDS else value
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        # msgspec says "at `$.port`": name the environment variable instead.
        message = str(exc)
        for name in raw:
            message = message.replace(f"`$.{name}`", name.upper())
        raise ConfigError(f"invalid configuration: {message}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
