"""Where an outbound webhook may connect: public addresses, plus what WEBHOOK_ALLOWLIST permits.

The check runs on the addresses the host name RESOLVES to (a public name may point at 127.0.0.1
or at the cloud metadata service), and the request then connects to exactly the address that was
checked, so a second DNS answer cannot swap in another one (DNS rebinding).

Allowlist entries:
  - `host` or `host:port`      — the URL's host name, exactly (case-insensitive)
  - `ip`, `ip:port`, `[v6]:port` — a resolved address (and port)
  - `cidr`                      — any resolved address in the network, any port
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from app.core.text import is_ascii_digits

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata endpoints, named even though the ranges below already cover them.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


class AddressRefused(Exception):
    """The destination is private/loopback/metadata and not allowlisted."""


class ResolutionFailed(Exception):
    """The host name did not resolve (may be temporary)."""


@dataclass(frozen=True, slots=True)
class AllowEntry:
    host: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def permits(self, *, host: str, ip: IPAddress, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return self.host == host.lower().rstrip(".")
        return self.network is not None and _plain(ip) in self.network


def _plain(ip: IPAddress) -> IPAddress:
    # ::ffff:127.0.0.1 is 127.0.0.1 to the kernel: judge it as such.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_allow_entry(raw: str) -> AllowEntry:
    """One WEBHOOK_ALLOWLIST entry; ValueError with a readable message if it is neither form."""
    text = raw.strip().lower()
    if not text:
        raise ValueError("empty entry")
    if "/" in text:
        return AllowEntry(network=ipaddress.ip_network(text, strict=False))
    host, port = text, None
    if text.startswith("["):
        inside, _, rest = text[1:].partition("]")
        host = inside
        if rest:
            if not rest.startswith(":") or not is_ascii_digits(rest[1:]):
                raise ValueError(f"bad port in {raw!r}")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not is_ascii_digits(port_text):
            raise ValueError(f"bad port in {raw!r}")
        port = int(port_text)
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port out of range in {raw!r}")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not host or any(c in host for c in " /@?#"):
            raise ValueError(f"{raw!r} is not a host, host:port, IP or CIDR") from None
        return AllowEntry(host=host.rstrip("."), port=port)
    prefix = 32 if address.version == 4 else 128
    return AllowEntry(network=ipaddress.ip_network(f"{_plain(address)}/{prefix}"), port=port)


def parse_allowlist(entries: list[str]) -> list[AllowEntry]:
    return [parse_allow_entry(entry) for entry in entries]


# IPv6 ranges that carry an IPv4 address in their low 32 bits: IPv4-compatible (::/96,
# deprecated) and the NAT64 well-known prefix (RFC 6052). A translator sends 64:ff9b::7f00:1 to
# 127.0.0.1; such an address is only as public as the IPv4 address inside it.
_EMBEDS_LOW_32 = (
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("64:ff9b::/96"),
)
# NAT64 local-use prefix (RFC 8215): the IPv4 address may sit anywhere, and the prefix itself is
# for a site's own translators, never a public destination.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if any: IPv4-mapped (::ffff:a.b.c.d),
    IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:AABB:CCDD::)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in network for network in _EMBEDS_LOW_32):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _forbidden_as_is(ip: IPAddress) -> bool:
    return ip in METADATA_ADDRESSES or ip.is_multicast or not ip.is_global


def is_forbidden(ip: IPAddress) -> bool:
    """Not a public unicast address (private, loopback, link-local, unspecified, multicast...);
    an IPv6 address that embeds an IPv4 address is judged by that IPv4 address too."""
    if isinstance(ip, ipaddress.IPv6Address) and ip in _LOCAL_NAT64:
        return True
    inner = embedded_ipv4(ip)
    if inner is not None and _forbidden_as_is(inner):
        return True
    return _forbidden_as_is(_plain(ip))


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host name resolves to, in resolver order."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolutionFailed(f"cannot resolve {host!r}: {exc}") from exc
    seen: list[IPAddress] = []
    for info in infos:
        # Drop an IPv6 scope ("fe80::1%eth0"): the address itself is what is judged.
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    if not seen:
        raise ResolutionFailed(f"{host!r} resolved to no address")
    return seen


async def permitted_addresses(host: str, port: int, allowlist: list[AllowEntry]) -> list[IPAddress]:
    """The resolved addresses we may connect to, in resolver order; AddressRefused if none."""
    addresses = await resolve(host, port)
    permitted = [
        address
        for address in addresses
        if not is_forbidden(address)
        or any(entry.permits(host=host, ip=address, port=port) for entry in allowlist)
    ]
    if not permitted:
        shown = ", ".join(str(a) for a in addresses)
        raise AddressRefused(
            f"{host}:{port} resolves to {shown}: private, loopback, link-local or metadata "
            "addresses are refused unless WEBHOOK_ALLOWLIST permits them"
        )
    return permitted


def check_webhook_allowlist(entries: list[str]) -> None:
    """Refuse to start with a WEBHOOK_ALLOWLIST entry that is neither host, IP nor CIDR."""
    from app.core.config import ConfigError

    try:
        parse_allowlist(entries)
    except ValueError as exc:
        raise ConfigError(f"WEBHOOK_ALLOWLIST is invalid: {exc}") from exc
