"""The start-up checks of the edges (email modes, secrets, allowlists): refuse to run unsafely."""

from __future__ import annotations

from app.core.config import Settings
from app.core.crypto import check_secret_key
from app.emails.policy import check_email_settings
from app.webhooks.guard import check_webhook_allowlist


def check_edge_settings(settings: Settings) -> None:
    """Raise ConfigError saying what to change; called by create_app, the worker and the CLI."""
    check_email_settings(settings)
    check_secret_key(settings)
    check_webhook_allowlist(settings.webhook_allowlist)
