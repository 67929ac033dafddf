"""X-Request-ID: accept the caller's (or make one), echo it, and put it on every log line.

A plain ASGI middleware around the whole app (outermost), so every response carries the header —
errors, 404s and the console included — and the one access line per request is logged with it.
The id is also stored on every event the request writes (events.request_id), so the engine's
lines for the executions those events start carry it too.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog

from app.core.logging import bind_log_context

HEADER = "x-request-id"
# What we accept from a caller: short, printable, no spaces (it ends up in logs and headers).
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

log = structlog.get_logger("crmflow.http")


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"x-request-id":
            text = value.decode("latin-1").strip()
            if _VALID.match(text):
                return text
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Bind request_id for the request's lines, echo it, and log one line per request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope.get("headers") or [])
        structlog.contextvars.clear_contextvars()
        bind_log_context(request_id=request_id)
        started = time.perf_counter()
        status = 500
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *(h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"),
                    header,
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            path = scope.get("path", "")
            # Probes and scrapes are polled every few seconds: only worth a line when debugging.
            quiet = path in ("/health", "/ready", "/metrics") and status < 400
            (log.debug if quiet else log.info)(
                "http.request",
                method=scope.get("method"),
                path=path,
                status=status,
                duration_ms=duration_ms,
            )
            structlog.contextvars.clear_contextvars()
