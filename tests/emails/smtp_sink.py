"""A real SMTP server (aiosmtpd on 127.0.0.1) that records what it accepted and can misbehave."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


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
    # Called with the address on RCPT TO, before the server answers it (the envelope's last step).
    on_rcpt: Callable[[str], None] | None = None
    # Called with the recipients when the DATA command arrives, before the server's 354.
    on_data_command: Callable[[list[str]], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.on_rcpt is not None:
            self.on_rcpt(address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

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


class _HookedSMTP(SMTP):  # type: ignore[misc]
    """aiosmtpd's server, telling the handler when a DATA command arrives (it has no hook there)."""

    async def smtp_DATA(self, arg: str) -> None:
        hook = self.event_handler.on_data_command
        if hook is not None and self.envelope is not None and self.envelope.rcpt_tos:
            hook(list(self.envelope.rcpt_tos))
        await super().smtp_DATA(arg)


class _SocketController(Controller):  # type: ignore[misc]
    """aiosmtpd's Controller serving an already-listening socket (it only takes host and port)."""

    def __init__(self, handler: SinkHandler, sock: socket.socket) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=int(sock.getsockname()[1]))
        self._sock = sock

    def factory(self) -> SMTP:
        return _HookedSMTP(self.handler, **self.SMTP_kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class SmtpSink:
    """Start/stop an aiosmtpd server on 127.0.0.1 in its own thread, on a listening socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.port = int(sock.getsockname()[1])
        self.handler = SinkHandler()
        self._controller = _SocketController(self.handler, sock)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
