"""Standard Webhooks (https://www.standardwebhooks.com, spec 1.0) signing, verification, rotation.

Headers: `webhook-id` (the delivery id, stable across retries), `webhook-timestamp` (unix
seconds) and `webhook-signature: v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`, a
space-separated list so that, while a secret is being rotated, both the old and the new secret
sign. Signing goes through the maintained `standardwebhooks` package.

The key of a secret: a `whsec_<base64>` secret is the base64-decoded bytes, exactly as the
package derives it, so a receiver using any Standard Webhooks library with the same string
verifies us. Any other (older) secret string signs with its UTF-8 bytes.

A keyring is what a rotated secret is stored as (encrypted, like any secret): the current
secret, plus the previous one and when it stops being used.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from standardwebhooks.webhooks import Webhook, hmac_data

from app.core.text import is_ascii_digits

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
# The spec: secrets between 24 and 64 bytes; we generate 32.
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
MAX_SIGNATURES = 10
_KEYRING_PREFIX = "keyring:v1:"


class VerificationFailed(Exception):
    """The delivery's Standard Webhooks headers do not verify (message says why)."""


def generate_secret() -> str:
    """A new `whsec_` secret: 32 random bytes, base64 (what Svix and the spec's libraries use)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def whsec_problem(secret: str) -> str | None:
    """Why a `whsec_` secret a user gives us is unusable, or None (other strings are legacy)."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return "a whsec_ secret must be whsec_ followed by standard base64"
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        return f"a whsec_ secret must encode {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes"
    return None


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret (see the module docstring)."""
    if secret.startswith(SECRET_PREFIX):
        try:
            # Exactly the package's own derivation, leniency included.
            key = base64.b64decode(secret[len(SECRET_PREFIX) :] + "==")
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode()


def sign(secret_list: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one `v1,<base64>` per secret, space-separated."""
    when = datetime.fromtimestamp(timestamp, UTC)
    text = body.decode("utf-8")
    return " ".join(
        Webhook(signing_key(s)).sign(msg_id=msg_id, timestamp=when, data=text) for s in secret_list
    )


def signature_headers(
    secret_list: list[str], msg_id: str, body: bytes, *, now: float | None = None
) -> dict[str, str]:
    """The three headers of a signed delivery (no signature header without a secret)."""
    timestamp = int(time.time() if now is None else now)
    headers = {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(timestamp)}
    if secret_list:
        headers[SIGNATURE_HEADER] = sign(secret_list, msg_id, timestamp, body)
    return headers


def _expected(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    # Over the raw bytes: the spec signs the body as received, UTF-8 or not.
    return hmac_data(key, f"{msg_id}.{timestamp}.".encode() + body)


def verify(
    secret_list: list[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int,
    now: float | None = None,
) -> str:
    """Check a delivery signed by any of the secrets; returns its `webhook-id`.

    `headers` must have lower-case names. Raises VerificationFailed.
    """
    msg_id = headers.get(ID_HEADER, "").strip()
    timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    signature = headers.get(SIGNATURE_HEADER, "")
    if not (msg_id and timestamp and signature):
        raise VerificationFailed(
            f"Send {ID_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} (Standard Webhooks)."
        )
    if not is_ascii_digits(timestamp) or len(timestamp) > 12:
        raise VerificationFailed(f"{TIMESTAMP_HEADER} must be unix seconds.")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_s:
        raise VerificationFailed(
            f"{TIMESTAMP_HEADER} is not within {tolerance_s} s of ours (stale or replayed)."
        )
    received: list[bytes] = []
    for entry in signature.split(" ")[:MAX_SIGNATURES]:
        version, comma, value = entry.partition(",")
        if not comma or version != "v1":
            continue
        try:
            received.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    for secret in secret_list:
        expected = _expected(signing_key(secret), msg_id, timestamp, body)
        if any(hmac.compare_digest(expected, got) for got in received):
            return msg_id
    raise VerificationFailed("No v1 signature matches the body, id and timestamp.")


class _Keyring(msgspec.Struct, kw_only=True):
    current: str
    previous: str | None = None
    # Unix seconds after which `previous` no longer signs or verifies.
    previous_until: float | None = None


@dataclass(frozen=True, slots=True)
class Keyring:
    """A secret with, during a rotation's grace period, the one it replaced."""

    current: str
    previous: str | None = None
    previous_until: float | None = None

    def active(self, *, now: float | None = None) -> list[str]:
        """The secrets in use now: the current one first."""
        current_time = time.time() if now is None else now
        if self.previous and self.previous_until and current_time < self.previous_until:
            return [self.current, self.previous]
        return [self.current]

    def dump(self) -> str:
        """The plaintext to encrypt and store (a plain secret when nothing is rotating)."""
        if not self.previous:
            return self.current
        packed = _Keyring(
            current=self.current, previous=self.previous, previous_until=self.previous_until
        )
        return _KEYRING_PREFIX + msgspec.json.encode(packed).decode()

    def rotated(self, new_secret: str, *, grace_s: float, now: float | None = None) -> Keyring:
        """`new_secret` becomes current; the current one keeps working for grace_s seconds."""
        if grace_s <= 0:
            return Keyring(current=new_secret)
        current_time = time.time() if now is None else now
        return Keyring(
            current=new_secret, previous=self.current, previous_until=current_time + grace_s
        )


def load_keyring(plaintext: str) -> Keyring:
    """A stored (decrypted) secret as a keyring; a plain secret is a keyring of one."""
    if not plaintext.startswith(_KEYRING_PREFIX):
        return Keyring(current=plaintext)
    packed = msgspec.json.decode(plaintext[len(_KEYRING_PREFIX) :], type=_Keyring)
    return Keyring(
        current=packed.current, previous=packed.previous, previous_until=packed.previous_until
    )
