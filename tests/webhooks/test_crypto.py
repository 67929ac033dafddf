"""Stored secrets: encrypted with SECRET_KEY, or a stable local key in development."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import ConfigError, Environment, Settings
from app.core.crypto import (
    KEY_FILE_NAME,
    SecretDecryptError,
    decrypt_secret,
    encrypt_secret,
)


def test_round_trip_and_a_different_key_cannot_read_it() -> None:
    one = Settings(secret_key="first-secret-key-0123456789")
    two = Settings(secret_key="second-secret-key-0123456789")
    stored = encrypt_secret("whsec_abc", settings=one)
    assert "whsec_abc" not in stored
    assert stored.startswith("enc:v1:")
    assert decrypt_secret(stored, settings=one) == "whsec_abc"
    with pytest.raises(SecretDecryptError):
        decrypt_secret(stored, settings=two)
    with pytest.raises(SecretDecryptError):
        decrypt_secret("plain", settings=one)


def test_development_uses_a_stable_local_key_file(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.DEVELOPMENT, data_dir_path=str(tmp_path))
    stored = encrypt_secret("s3cret", settings=settings)
    key_file = tmp_path / KEY_FILE_NAME
    assert key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    # Another process (same data dir) reads what this one stored.
    again = Settings(environment=Environment.TEST, data_dir_path=str(tmp_path))
    assert decrypt_secret(stored, settings=again) == "s3cret"


def test_production_without_secret_key_cannot_encrypt(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.PRODUCTION, data_dir_path=str(tmp_path))
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        encrypt_secret("x", settings=settings)
    assert not (tmp_path / KEY_FILE_NAME).exists()
