"""Encryption of stored secrets (webhook signing secrets) with Fernet.

The key comes from SECRET_KEY (required in production). In development and test, when SECRET_KEY
is unset, a random key is created once in `data_dir/secret.key` and reused, so secrets stored by
one run still decrypt in the next. Changing the key makes stored secrets unreadable: rotate them.
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.config import ConfigError, Environment, Settings, get_settings

# Marks a value as ours, so a stored value can be told apart from a plaintext one.
ENCRYPTED_PREFIX = "enc:v1:"
KEY_FILE_NAME = "secret.key"
_HKDF_INFO = b"crmflow stored-secret encryption v1"


class SecretDecryptError(Exception):
    """A stored secret cannot be decrypted (the key changed or the value is corrupt)."""


def check_secret_key(settings: Settings) -> None:
    """Refuse to start in production without SECRET_KEY (stored secrets would be unprotected)."""
    if settings.environment is Environment.PRODUCTION and not settings.secret_key:
        raise ConfigError(
            "SECRET_KEY is required when ENVIRONMENT=production: it encrypts the stored "
            "webhook secrets. Set it to a long random string and keep it stable."
        )
    if settings.secret_key is not None and len(settings.secret_key) < 16:
        raise ConfigError("SECRET_KEY must be at least 16 characters long.")


def _local_key_material(data_dir: Path) -> bytes:
    """The development key: created once (atomically, 0600) in data_dir, then reused."""
    path = data_dir / KEY_FILE_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        material = path.read_bytes().strip()
        if not material:
            raise ConfigError(f"{path} is empty; delete it or set SECRET_KEY") from None
        return material
    material = secrets.token_urlsafe(48).encode()
    with os.fdopen(fd, "wb") as handle:
        handle.write(material)
    return material


@lru_cache(maxsize=8)
def _fernet(secret_key: str | None, data_dir: str, environment: Environment) -> Fernet:
    if secret_key:
        material = secret_key.encode()
    elif environment is Environment.PRODUCTION:
        raise ConfigError("SECRET_KEY is required when ENVIRONMENT=production.")
    else:
        material = _local_key_material(Path(data_dir))
    # HKDF turns any passphrase-length secret into the 32 bytes Fernet needs.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(material)
    return Fernet(base64.urlsafe_b64encode(key))


def _cipher(settings: Settings | None) -> Fernet:
    settings = settings or get_settings()
    return _fernet(settings.secret_key, settings.data_dir_path, settings.environment)


def is_encrypted(value: str) -> bool:
    return value.startswith(ENCRYPTED_PREFIX)


def encrypt_secret(plaintext: str, *, settings: Settings | None = None) -> str:
    """An opaque, authenticated ciphertext to store instead of the secret."""
    token = _cipher(settings).encrypt(plaintext.encode()).decode()
    return ENCRYPTED_PREFIX + token


def decrypt_secret(stored: str, *, settings: Settings | None = None) -> str:
    """The plaintext of a value made by encrypt_secret."""
    if not is_encrypted(stored):
        raise SecretDecryptError("the value is not an encrypted secret")
    try:
        return _cipher(settings).decrypt(stored[len(ENCRYPTED_PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptError(
            "the stored secret cannot be decrypted with the current SECRET_KEY"
        ) from exc


def generate_secret() -> str:
    """A new signing secret for a webhook source (shown to the admin once)."""
    return "whsec_" + secrets.token_urlsafe(32)


def derived_secret(purpose: str, *, settings: Settings | None = None) -> str:
    """A stable secret for one purpose (e.g. CSRF signing), from SECRET_KEY or the dev key file."""
    settings = settings or get_settings()
    if settings.secret_key:
        material = settings.secret_key.encode()
    else:
        material = _local_key_material(Path(settings.data_dir_path))
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        material
    )
    return key.hex()
