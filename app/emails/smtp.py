"""One SMTP transaction, step by step, so a failure says whether the server may have the message.

Before the end of DATA the server cannot have accepted the message: any failure there is safe
to retry. A server reply to DATA (a 4xx/5xx code) is a definite refusal. But a lost connection
or a timeout while waiting for that reply is ambiguous: the server may have queued the message,
so it must never be retried automatically.

The caller's `claim` runs once the server has answered DATA with 354 and before the message text
is sent: it is where the attempt is committed as SENDING, the last moment before the server can
hold the message (a server keeps nothing of a message whose final "." never came). So a crash
anywhere before that commit leaves the email to be retried, and the window in which the outcome
is unknown is the message text plus the server's reply to it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from aiosmtplib import SMTPStatus

from app.core.config import Settings
from app.emails.addresses import InvalidRecipient, Recipient, parse_recipient


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    to: str
    subject: str
    body: str
    message_id: str


# Commits the attempt once the envelope is accepted; returns the Message-ID to send under, or
# None when another worker claimed the email meanwhile (nothing is sent then).
Claim = Callable[[], Awaitable[str | None]]


class ClaimLost(Exception):
    """Another worker claimed the email before our message text; nothing was sent."""


class SmtpFailure(Exception):
    """A delivery attempt failed; the flags say what may be done next."""

    def __init__(
        self, message: str, *, retryable: bool, ambiguous: bool = False, claimed: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        # The attempt was committed (SENDING) before the failure: only DATA's failures are.
        self.claimed = claimed
        # A temporary failure (4xx, connection refused, timeout before DATA).
        self.retryable = retryable
        # The server may hold the message: never send again automatically.
        self.ambiguous = ambiguous


def build_message(email: OutgoingEmail, *, sender: str, recipient: Recipient) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient.header
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = email.message_id
    message.set_content(email.body)
    return message


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"SMTP {exc.code} {exc.message}".strip()
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


def _response_failure(
    exc: aiosmtplib.SMTPResponseException, *, claimed: bool = False
) -> SmtpFailure:
    # 4xx is "try again later"; 5xx is a permanent refusal (no such user, policy).
    return SmtpFailure(_describe(exc), retryable=400 <= exc.code < 500, claimed=claimed)


async def send_email(
    email: OutgoingEmail, *, settings: Settings, claim: Claim | None = None
) -> str:
    """Hand the message to the SMTP server; returns its reply to DATA.

    Raises SmtpFailure, or ClaimLost when claim() says another worker has the email. Without a
    claim the message goes out under email.message_id.

    The envelope recipient is the one parsed address (never the raw text): a row stored before
    strict parsing, holding "None" or a list, fails here without anything reaching the server.
    """
    try:
        recipient = parse_recipient(email.to)
    except InvalidRecipient as exc:
        raise SmtpFailure(str(exc), retryable=False) from None
    try:
        # Built once before connecting, so a message that cannot be built never claims anything.
        message = build_message(email, sender=settings.email_from, recipient=recipient)
    except (ValueError, TypeError) as exc:
        raise SmtpFailure(f"the message cannot be built: {exc}", retryable=False) from exc
    client = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        timeout=settings.smtp_timeout_s,
        start_tls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password,
    )
    try:
        await client.connect()
        await client.mail(settings.email_from)
        await client.rcpt(recipient.address)
        await _start_data(client)
    except aiosmtplib.SMTPResponseException as exc:
        client.close()
        raise _response_failure(exc) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        client.close()
        raise SmtpFailure(_describe(exc), retryable=True) from exc
    except ValueError as exc:
        client.close()
        raise SmtpFailure(f"invalid address: {exc}", retryable=False) from exc
    if claim is not None:
        try:
            message_id = await claim()
        except BaseException:
            client.close()
            raise
        if message_id is None:
            # Mid-DATA a QUIT would be message text: dropping the connection is how a client
            # abandons a message, and the server keeps nothing of it.
            client.close()
            raise ClaimLost(email.message_id)
        if message_id != email.message_id:
            message.replace_header("Message-ID", message_id)
    # From here on the attempt is committed: a crash leaves the email SENDING (state unknown).
    try:
        response = await _send_text(
            client, message.as_bytes(), read_timeout_s=settings.smtp_timeout_s
        )
    except aiosmtplib.SMTPResponseException as exc:
        client.close()
        raise _response_failure(exc, claimed=claim is not None) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        client.close()
        raise SmtpFailure(
            f"the connection failed while the server was taking the message ({_describe(exc)})",
            retryable=False,
            ambiguous=True,
            claimed=claim is not None,
        ) from exc
    # The message was accepted (250 to its text); a failed QUIT changes nothing.
    await _quit_quietly(client)
    return f"{response.code} {response.message}".strip()


async def _start_data(client: aiosmtplib.SMTP) -> None:
    """DATA, up to the server's 354: it now waits for the text and holds nothing yet."""
    reply = await client.execute_command(b"DATA")
    if reply.code != SMTPStatus.start_input:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)


def _data_text(message: bytes) -> bytes:
    """The message as DATA carries it (RFC 5321 4.5.2): CRLF lines, dot-stuffed, "." to end."""
    text = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", text) + b".\r\n"


async def _send_text(
    client: aiosmtplib.SMTP, message: bytes, *, read_timeout_s: float
) -> aiosmtplib.SMTPResponse:
    """The second half of aiosmtplib's `data()`, after 354: the text, then the server's verdict.

    aiosmtplib sends DATA and the text in one call; the claim must commit between the two, so
    the text goes through the protocol's own write/read pair, as `data()` itself does.
    """
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    protocol.write(_data_text(message))
    reply = await protocol.read_response(timeout=read_timeout_s)
    if reply.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    return reply


async def _quit_quietly(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()
