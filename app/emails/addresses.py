"""Recipient addresses: one strict parse shared by save, run time, approval, policy and SMTP.

Why email-validator and not the standard library: `email.utils.parseaddr`/`getaddresses` on
Python 3.11 are lenient (CVE-2023-27043 class): they return a "best effort" address from text such
as `victim@evil.test,x@partner.test` or `<victim@evil.test>x@partner.test`, so the domain a
policy checks and the address the SMTP client is handed can differ. email-validator accepts
exactly one RFC 5322 address (bare, or `Display Name <addr>`), refuses quoted local parts,
domain literals, whitespace, control characters, lists and trailing text, and returns the
normalised address and its IDNA domain. The standard library is used only to *write* the header
from that parsed structure (`email.headerregistry.Address`), never to read untrusted text.

Every check (the allowlist, approval, delivery) works on the parsed `Recipient`, and the SMTP
envelope gets `Recipient.address`: what was checked is what is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address

from email_validator import EmailNotValidError, validate_email


class InvalidRecipient(ValueError):
    """The text is not exactly one valid email address."""

    def __init__(self, text: str, reason: str) -> None:
        shown = text if len(text) <= 200 else text[:200] + "…"
        super().__init__(f"recipient {shown!r} is not a valid email address: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Recipient:
    # The addr-spec handed to SMTP (RCPT TO): IDNA domain when the local part is ASCII.
    address: str
    # Lower-case ASCII (IDNA) domain: what domain allowlist patterns are compared with.
    domain: str
    display_name: str | None = None

    @property
    def header(self) -> str:
        """The canonical text for the To header and the stored `to` (re-parses to itself)."""
        if not self.display_name:
            return self.address
        return str(Address(display_name=self.display_name, addr_spec=self.address))


def parse_recipient(text: str) -> Recipient:
    """Exactly one address, `a@b.example` or `Name <a@b.example>`; InvalidRecipient otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRecipient(str(text), "it is empty")
    try:
        # test_environment admits the reserved `.test` TLD (RFC 6761: never resolves publicly),
        # used by the demo and the tests; other special-use names (localhost, .invalid) stay out.
        parsed = validate_email(
            text.strip(),
            check_deliverability=False,
            allow_display_name=True,
            allow_quoted_local=False,
            allow_domain_literal=False,
            test_environment=True,
        )
    except EmailNotValidError as exc:
        raise InvalidRecipient(text, str(exc)) from None
    address = parsed.ascii_email or parsed.normalized
    domain = (parsed.ascii_domain or parsed.domain).lower()
    return Recipient(address=address, domain=domain, display_name=parsed.display_name or None)


def recipient_problem(text: str) -> str | None:
    """Why the text is not exactly one valid address (None when it is)."""
    try:
        parse_recipient(text)
    except InvalidRecipient as exc:
        return exc.reason
    return None
