"""A real SMTP server (aiosmtpd on 127.0.0.1) that records what it accepted and can misbehave."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> Message:
        return message_from_bytes(self.content)

    @property
    def message_id(self) -> str | None:
        return self.message["Message-ID"]


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    # Per recipient: replies to DATA to give, in order, before accepting (e.g. "451 ...").
    data_replies: dict[str, list[str]] = field(default_factory=dict)
    # Called with the envelope once DATA arrived, before the server answers it.
    on_data: Callable[[Any], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.on_data is not None:
            self.on_data(envelope)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                script = self.data_replies.get(rcpt.lower())
                if script:
                    return script.pop(0)
            self.received.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    content=bytes(envelope.original_content or envelope.content),
                )
            )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address.lower() in (a.lower() for a in r.rcpt_tos)]


class SmtpSink:
    """Start/stop an aiosmtpd server on 127.0.0.1:port in its own thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.handler = SinkHandler()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=port)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
