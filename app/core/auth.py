"""API-key authentication: `Authorization: Bearer <key>` → the key's user, tenant and role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from app.core.auth_cache import CACHE
from app.core.errors import ForbiddenError, UnauthorizedError
from app.core.request_context import Actor, set_actor
from app.core.sql import fetch, fetchrow
from tables.enums import Role

KEY_PREFIX = "crm_"
# last_used_at is a hint for operators, not an audit record: write it at most once a minute.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: the key's user within the key's tenant."""

    tenant_id: UUID
    user_id: UUID
    # None: a console session opened with a one-time sign-in link rather than a key.
    api_key_id: UUID | None
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
    """The principal for a live key of an active user, or None.

    Served from a short-lived per-process cache that every revocation empties at once
    (app/core/auth_cache.py); a miss is one raw statement that also touches last_used_at (at
    most once a minute per key).
    """
    key_hash = hash_api_key(plaintext)
    cached = CACHE.get(key_hash)
    if cached is not None:
        return cached
    generation = CACHE.generation
    rows = await fetch(
        """
        WITH k AS (
            SELECT k.id AS key_id, k.last_used_at, u.id AS user_id, u.tenant, u.role
            FROM api_keys k JOIN users u ON u.id = k."user"
            WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND u.is_active
        ), touched AS (
            UPDATE api_keys SET last_used_at = now()
            WHERE id = (SELECT key_id FROM k)
              AND (last_used_at IS NULL OR last_used_at < now() - $2::interval)
        )
        SELECT key_id, user_id, tenant, role FROM k
        """,
        key_hash,
        _LAST_USED_RESOLUTION,
    )
    if not rows:
        return None
    row = rows[0]
    principal = Principal(
        tenant_id=row["tenant"],
        user_id=row["user_id"],
        api_key_id=row["key_id"],
        role=Role(row["role"]),
    )
    CACHE.put(key_hash, principal, generation)
    return principal


async def authenticate_session(*, user_id: UUID, api_key_id: UUID | None) -> Principal | None:
    """Re-check a console session on every request: the user still active, the key not revoked.

    The role is read afresh, so demoting a user or revoking a key takes effect at once.
    """
    row = await fetchrow(
        """
        SELECT u.tenant, u.role FROM users u
        WHERE u.id = $1 AND u.is_active
          AND ($2::uuid IS NULL OR EXISTS (
                SELECT 1 FROM api_keys k
                WHERE k.id = $2::uuid AND k."user" = u.id AND k.revoked_at IS NULL))
        """,
        user_id,
        api_key_id,
    )
    if row is None:
        return None
    return Principal(
        tenant_id=row["tenant"],
        user_id=user_id,
        api_key_id=api_key_id,
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
        act_as(principal, connection)
        return AuthenticationResult(user=principal, auth=principal.api_key_id)


def act_as(principal: Principal, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """The request's actor for the audit trail: the API and the console set it the same way."""
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


def ensure_admin(principal: object) -> None:
    """The one admin rule, for the API guard and the console alike."""
    if not isinstance(principal, Principal) or not principal.is_admin:
        raise ForbiddenError("This action needs the admin role.")


def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: only admins manage users, keys and workflows."""
    ensure_admin(connection.user)
