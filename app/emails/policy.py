"""Email modes and the recipient allowlist: the sales team's kill switch.

DRAFT_ONLY (the default) never sends on its own: every SEND_EMAIL waits as a DRAFT for a person.
SEND delivers automatically, but only to allowlisted recipients, and only in production: a
developer's laptop or a staging copy of real data must never mail real customers by accident.
"""

from __future__ import annotations

from app.core.config import ConfigError, EmailMode, Environment, Settings
from app.emails.addresses import InvalidRecipient, Recipient, parse_recipient


def check_smtp_transport(settings: Settings) -> None:
    """Refuse to start in production with SMTP credentials that would cross the network in
    clear text (AUTH without STARTTLS)."""
    has_credentials = bool(settings.smtp_username or settings.smtp_password)
    if (
        settings.environment is Environment.PRODUCTION
        and has_credentials
        and not settings.smtp_starttls
    ):
        raise ConfigError(
            "SMTP_USERNAME/SMTP_PASSWORD are set but SMTP_STARTTLS is not: in production the "
            "SMTP credentials (and every email) would be sent unencrypted. Set SMTP_STARTTLS=true "
            "(the server's certificate is verified)."
        )


def check_email_settings(settings: Settings) -> None:
    """Refuse to start with EMAIL_MODE=SEND unless production with an allowlist, and with SMTP
    credentials but no TLS in production."""
    check_smtp_transport(settings)
    if settings.email_mode is not EmailMode.SEND:
        return
    if settings.environment is not Environment.PRODUCTION:
        raise ConfigError(
            "EMAIL_MODE=SEND is refused because ENVIRONMENT is "
            f"'{settings.environment.value}', not 'production': outside production every email "
            "stays a draft. Use EMAIL_MODE=DRAFT_ONLY, or run with ENVIRONMENT=production."
        )
    if not settings.email_allowlist:
        raise ConfigError(
            "EMAIL_MODE=SEND is refused because EMAIL_ALLOWLIST is empty: list the recipients "
            "that may be mailed automatically (addresses or *@domain patterns, comma-separated)."
        )
    bad = [entry for entry in settings.email_allowlist if not _valid_pattern(entry)]
    if bad:
        raise ConfigError(
            "EMAIL_ALLOWLIST has entries that are neither an address nor *@domain: "
            + ", ".join(repr(b) for b in bad)
        )


def _valid_pattern(entry: str) -> bool:
    return _parse_pattern(entry) is not None


def _parse_pattern(entry: str) -> tuple[str, str] | None:
    """("domain", ascii domain) for `*@domain`, ("address", addr-spec) for an address."""
    text = entry.strip()
    if text.startswith("*@"):
        try:
            # The domain is checked as the domain of an address would be.
            return "domain", parse_recipient("x" + text[1:]).domain
        except InvalidRecipient:
            return None
    try:
        recipient = parse_recipient(text)
    except InvalidRecipient:
        return None
    return ("address", recipient.address.lower()) if not recipient.display_name else None


def recipient_allowed(recipient: Recipient | str, allowlist: list[str]) -> bool:
    """Exact address (case-insensitive) or `*@domain`, compared on the PARSED address.

    Text that is not exactly one valid address never matches (no "text after the last @").
    """
    if isinstance(recipient, str):
        try:
            recipient = parse_recipient(recipient)
        except InvalidRecipient:
            return False
    for entry in allowlist:
        pattern = _parse_pattern(entry)
        if pattern is None:
            continue
        kind, value = pattern
        if kind == "address" and value == recipient.address.lower():
            return True
        if kind == "domain" and value == recipient.domain:
            return True
    return False


def draft_reason(recipient: Recipient, settings: Settings) -> str | None:
    """Why a workflow email must wait for a person (None: it may be sent now)."""
    if settings.email_mode is not EmailMode.SEND:
        return "EMAIL_MODE is DRAFT_ONLY: every email waits for approval"
    if not recipient_allowed(recipient, settings.email_allowlist):
        return f"recipient {recipient.address!r} is not on EMAIL_ALLOWLIST"
    return None
