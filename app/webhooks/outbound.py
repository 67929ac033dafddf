"""The outbound HTTP client for webhooks: address-guarded on every hop, pinned to the checked IP.

Redirects are followed by hand (at most MAX_REDIRECTS) so each hop's destination is resolved and
checked like the first. The request goes to the IP that passed the check, with the original
Host header and TLS server name, so certificates are still verified against the host name.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from app.core.text import is_ascii_digits
from app.webhooks.guard import AllowEntry, IPAddress, permitted_addresses

MAX_REDIRECTS = 5
EXCERPT_BYTES = 2048
MAX_RETRY_AFTER_S = 3600.0
_REDIRECTS = {301, 302, 303, 307, 308}
_DEFAULT_PORTS = {"http": 80, "https": 443}


class WebhookRequestError(Exception):
    """The request could not be made as asked (bad URL, redirect loop...): not retryable."""


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    # The whole exchange (every hop's resolution, connection, request and response excerpt).
    timeout_s: float = 10.0
    # Lower-case names of headers that carry credentials (every header the step set, and the
    # signature): sent to the request's own origin only, dropped on a redirect to another.
    credential_headers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    status: int
    url: str
    # The first EXCERPT_BYTES of the body, decoded leniently.
    excerpt: str
    retry_after: str | None
    redirects: int
    address: str


def _target(url: httpx.URL) -> tuple[str, int]:
    if url.scheme not in _DEFAULT_PORTS:
        raise WebhookRequestError(f"only http and https URLs are allowed, not {url.scheme!r}")
    if not url.host:
        raise WebhookRequestError(f"{url} has no host")
    return url.host, url.port or _DEFAULT_PORTS[url.scheme]


def _host_header(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host if url.port is None else f"{host}:{url.port}"


def _pinned(url: httpx.URL, address: IPAddress) -> httpx.URL:
    return url.copy_with(host=str(address))


async def _send_once(
    client: httpx.AsyncClient,
    *,
    method: str,
    url: httpx.URL,
    address: IPAddress,
    headers: dict[str, str],
    body: bytes | None,
) -> tuple[int, httpx.Headers, str]:
    request_headers = {**headers, "Host": _host_header(url)}
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    request = client.build_request(
        method,
        _pinned(url, address),
        headers=request_headers,
        content=body,
        extensions=extensions,
    )
    response = await client.send(request, stream=True)
    try:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size >= EXCERPT_BYTES:
                break
        excerpt = b"".join(chunks)[:EXCERPT_BYTES].decode("utf-8", errors="replace")
    finally:
        await response.aclose()
    return response.status_code, response.headers, excerpt


async def _send_to_first_reachable(
    addresses: list[IPAddress],
    *,
    http_timeout: httpx.Timeout,
    method: str,
    url: httpx.URL,
    headers: dict[str, str],
    body: bytes | None,
) -> tuple[int, httpx.Headers, str, IPAddress]:
    """Try each checked address in turn until one accepts the connection (e.g. ::1, then
    127.0.0.1); nothing was sent to an address that refused the connection."""
    last_error: httpx.ConnectError | None = None
    for address in addresses:
        # A client per hop: a pooled connection is keyed by IP and must not carry one host's
        # TLS session to another. trust_env=False: an environment proxy would bypass the guard.
        async with httpx.AsyncClient(
            timeout=http_timeout, follow_redirects=False, trust_env=False
        ) as client:
            try:
                status, response_headers, excerpt = await _send_once(
                    client, method=method, url=url, address=address, headers=headers, body=body
                )
            except httpx.ConnectError as exc:
                last_error = exc
                continue
        return status, response_headers, excerpt, address
    assert last_error is not None
    raise last_error


async def _destination(url: httpx.URL, allowlist: list[AllowEntry]) -> list[IPAddress]:
    host, port = _target(url)
    return await permitted_addresses(host, port, allowlist)


async def check_destination(request: OutboundRequest, *, allowlist: list[AllowEntry]) -> None:
    """The address guard of a request's first hop, without sending anything (the dry run):
    the same URL rules, resolution check and time bound `send` applies."""
    try:
        parsed = httpx.URL(request.url)
    except httpx.InvalidURL as exc:
        raise WebhookRequestError(f"invalid URL: {exc}") from exc
    try:
        async with asyncio.timeout(request.timeout_s):
            await _destination(parsed, allowlist)
    except TimeoutError as exc:
        raise httpx.TimeoutException(
            f"the request did not complete within timeout_s = {request.timeout_s:g} s"
        ) from exc


def _next_hop(
    status: int, method: str, body: bytes | None, headers: dict[str, str]
) -> tuple[str, bytes | None, dict[str, str]]:
    # As browsers and httpx do: 303 (and 301/302 after a POST) turn into a body-less GET.
    if status == 303 or (status in (301, 302) and method == "POST"):
        kept = {
            k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")
        }
        return "GET", None, kept
    return method, body, headers


# Dropped on a redirect to another origin whatever the step says.
ALWAYS_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie"})


async def send(request: OutboundRequest, *, allowlist: list[AllowEntry]) -> OutboundResponse:
    """Send, following redirects by hand, all of it within request.timeout_s; raises
    AddressRefused, ResolutionFailed, WebhookRequestError or httpx.TransportError (a
    httpx.TimeoutException when the whole exchange took too long)."""
    try:
        async with asyncio.timeout(request.timeout_s):
            return await _send(request, allowlist=allowlist)
    except TimeoutError as exc:
        # Per-read timeouts alone let a receiver that drips a byte at a time hold the step for
        # as long as it likes; this bounds the exchange as a whole.
        raise httpx.TimeoutException(
            f"the request did not complete within timeout_s = {request.timeout_s:g} s"
        ) from exc


async def _send(request: OutboundRequest, *, allowlist: list[AllowEntry]) -> OutboundResponse:
    try:
        url = httpx.URL(request.url)
    except httpx.InvalidURL as exc:
        raise WebhookRequestError(f"invalid URL: {exc}") from exc
    method, body, headers = request.method.upper(), request.body, dict(request.headers)
    timeout = httpx.Timeout(request.timeout_s)
    for hop in range(MAX_REDIRECTS + 1):
        addresses = await _destination(url, allowlist)
        status, response_headers, excerpt, address = await _send_to_first_reachable(
            addresses, http_timeout=timeout, method=method, url=url, headers=headers, body=body
        )
        location = response_headers.get("location")
        if status not in _REDIRECTS or not location:
            return OutboundResponse(
                status=status,
                url=str(url),
                excerpt=excerpt,
                retry_after=response_headers.get("retry-after"),
                redirects=hop,
                address=str(address),
            )
        try:
            next_url = url.join(location)
        except httpx.InvalidURL as exc:
            raise WebhookRequestError(f"invalid redirect Location {location!r}") from exc
        if (next_url.scheme, next_url.host, next_url.port) != (url.scheme, url.host, url.port):
            # Credentials meant for one origin must not follow a redirect to another.
            dropped = ALWAYS_CREDENTIALS | request.credential_headers
            headers = {k: v for k, v in headers.items() if k.lower() not in dropped}
        method, body, headers = _next_hop(status, method, body, headers)
        url = next_url
    raise WebhookRequestError(f"more than {MAX_REDIRECTS} redirects")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date; bounded."""
    if value is None:
        return None
    value = value.strip()
    if is_ascii_digits(value):
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    delay = (when - datetime.fromtimestamp(current, UTC)).total_seconds()
    return min(max(delay, 0.0), MAX_RETRY_AFTER_S)
