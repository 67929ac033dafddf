"""One SMTP transaction, step by step, so a failure says whether the server may have the message.

Before the end of DATA the server cannot have accepted the message: any failure there is safe
to retry. A server reply to DATA (a 4xx/5xx code) is a definite refusal. But a lost connection
or a timeout while waiting for that reply is ambiguous: the server may have queued the message,
so it must never be retried automatically.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from app.core.config import Settings


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    to: str
    subject: str
    body: str
    message_id: str


class SmtpFailure(Exception):
    """A delivery attempt failed; the flags say what may be done next."""

    def __init__(self, message: str, *, retryable: bool, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.message = message
        # A temporary failure (4xx, connection refused, timeout before DATA).
        self.retryable = retryable
        # The server may hold the message: never send again automatically.
        self.ambiguous = ambiguous


def build_message(email: OutgoingEmail, *, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = email.message_id
    message.set_content(email.body)
    return message


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"SMTP {exc.code} {exc.message}".strip()
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


def _response_failure(exc: aiosmtplib.SMTPResponseException) -> SmtpFailure:
    # 4xx is "try again later"; 5xx is a permanent refusal (no such user, policy).
    return SmtpFailure(_describe(exc), retryable=400 <= exc.code < 500)


async def send_email(email: OutgoingEmail, *, settings: Settings) -> str:
    """Hand the message to the SMTP server; returns its reply to DATA. Raises SmtpFailure."""
    try:
        message = build_message(email, sender=settings.email_from)
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
        await client.rcpt(email.to)
    except aiosmtplib.SMTPResponseException as exc:
        client.close()
        raise _response_failure(exc) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        client.close()
        raise SmtpFailure(_describe(exc), retryable=True) from exc
    except ValueError as exc:
        client.close()
        raise SmtpFailure(f"invalid address: {exc}", retryable=False) from exc
    try:
        response = await client.data(message.as_bytes())
    except aiosmtplib.SMTPResponseException as exc:
        client.close()
        raise _response_failure(exc) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        client.close()
        raise SmtpFailure(
            f"the connection failed while the server was taking the message ({_describe(exc)})",
            retryable=False,
            ambiguous=True,
        ) from exc
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        # The message was accepted (250 to DATA); a failed QUIT changes nothing.
        client.close()
    return f"{response.code} {response.message}".strip()
