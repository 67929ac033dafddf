"""API-key authentication: `Authorization: Bearer <key>` → the key's user, tenant and role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from app.core.errors import ForbiddenError, UnauthorizedError
from app.core.request_context import Actor, set_actor
from tables import ApiKeys
from tables.enums import Role

KEY_PREFIX = "crm_"
# last_used_at is a hint for operators, not an audit record: write it at most once a minute.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: the key's user within the key's tenant."""

    tenant_id: UUID
    user_id: UUID
    api_key_id: UUID
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class NewApiKey:
    plaintext: str
    prefix: str
    key_hash: str


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    """A random key; only its hash is stored, the plaintext is shown once."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewApiKey(plaintext=plaintext, prefix=plaintext[:12], key_hash=hash_api_key(plaintext))


async def authenticate_key(plaintext: str) -> Principal | None:
    """The principal for a live key of an active user, or None."""
    key_hash = hash_api_key(plaintext)
    rows = await ApiKeys.raw(
        """
        SELECT k.id AS key_id, k.last_used_at, u.id AS user_id, u.tenant, u.role
        FROM api_keys k JOIN users u ON u.id = k."user"
        WHERE k.key_hash = {} AND k.revoked_at IS NULL AND u.is_active
        """,
        key_hash,
    )
    if not rows:
        return None
    row = rows[0]
    now = datetime.now(UTC)
    last_used = row["last_used_at"]
    if last_used is None or now - last_used > _LAST_USED_RESOLUTION:
        await ApiKeys.update({ApiKeys.last_used_at: now}).where(ApiKeys.id == row["key_id"])
    return Principal(
        tenant_id=row["tenant"],
        user_id=row["user_id"],
        api_key_id=row["key_id"],
        role=Role(row["role"]),
    )


class ApiKeyAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError(
                "Send an API key as 'Authorization: Bearer <key>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = await authenticate_key(token.strip())
        if principal is None:
            raise UnauthorizedError(
                "The API key is unknown or revoked.", headers={"WWW-Authenticate": "Bearer"}
            )
        client = connection.client
        set_actor(
            Actor(
                tenant_id=principal.tenant_id,
                user_id=principal.user_id,
                api_key_id=principal.api_key_id,
                ip=client.host if client else None,
                user_agent=connection.headers.get("user-agent"),
            )
        )
        return AuthenticationResult(user=principal, auth=principal.api_key_id)


def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: only admins manage users, keys and workflows."""
    principal = connection.user
    if not isinstance(principal, Principal) or not principal.is_admin:
        raise ForbiddenError("This action needs the admin role.")
