"""The signature scheme shared by inbound and outbound webhooks.

signature = hex(HMAC-SHA256(secret, f"{timestamp}." + raw body)), sent as
`X-Crmflow-Signature: sha256=<hex>` with `X-Crmflow-Timestamp: <unix seconds>`. Signing the
timestamp with the body lets a receiver reject replays outside its freshness window.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from app.core.text import is_ascii_digits

SIGNATURE_HEADER = "X-Crmflow-Signature"
TIMESTAMP_HEADER = "X-Crmflow-Timestamp"
DELIVERY_HEADER = "X-Crmflow-Delivery"
SCHEME = "sha256="


def compute_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` over `timestamp + "." + body`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def signature_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers a signed request carries."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: compute_signature(secret, timestamp, body),
    }


def signature_matches(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time comparison of a received signature with the expected one."""
    expected = compute_signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def is_fresh(timestamp: str, *, tolerance_s: int, now: float | None = None) -> bool:
    """The timestamp is an integer within tolerance_s of now (either side, for clock skew)."""
    if not is_ascii_digits(timestamp) or len(timestamp) > 12:
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp)) <= tolerance_s
