"""Email modes and the recipient allowlist: the sales team's kill switch.

DRAFT_ONLY (the default) never sends on its own: every SEND_EMAIL waits as a DRAFT for a person.
SEND delivers automatically, but only to allowlisted recipients, and only in production: a
developer's laptop or a staging copy of real data must never mail real customers by accident.
"""

from __future__ import annotations

from app.core.config import ConfigError, EmailMode, Environment, Settings


def check_email_settings(settings: Settings) -> None:
    """Refuse to start with EMAIL_MODE=SEND unless production with an allowlist."""
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
    local, sep, domain = entry.strip().rpartition("@")
    return bool(sep and local and domain and "@" not in local and "*" not in domain)


def recipient_allowed(address: str, allowlist: list[str]) -> bool:
    """Exact address (case-insensitive) or `*@domain`; nothing else matches."""
    address = address.strip().lower()
    local, sep, domain = address.rpartition("@")
    if not sep or not local or not domain:
        return False
    for entry in allowlist:
        pattern = entry.strip().lower()
        if pattern == address:
            return True
        if pattern.startswith("*@") and pattern[2:] == domain:
            return True
    return False


def _plausible_address(address: str) -> bool:
    local, sep, domain = address.rpartition("@")
    return bool(sep and local and "." in domain and not any(c.isspace() for c in address))


def draft_reason(to: str, settings: Settings) -> str | None:
    """Why a workflow email must wait for a person (None: it may be sent now)."""
    if not _plausible_address(to):
        return f"recipient {to!r} is not an email address"
    if settings.email_mode is not EmailMode.SEND:
        return "EMAIL_MODE is DRAFT_ONLY: every email waits for approval"
    if not recipient_allowed(to, settings.email_allowlist):
        return f"recipient {to!r} is not on EMAIL_ALLOWLIST"
    return None
