"""Headers every response carries, whatever produced it (a route, an error, a static file)."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

SECURITY_HEADERS = {
    # Browsers must take Content-Type as given: an upload declared text/plain that holds HTML is
    # never sniffed into a page running on our origin.
    "X-Content-Type-Options": "nosniff",
}


async def add_security_headers(message: Message, scope: Scope) -> None:
    """Litestar before_send hook: runs on every response start, error responses included."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        for name, value in SECURITY_HEADERS.items():
            headers[name] = value
