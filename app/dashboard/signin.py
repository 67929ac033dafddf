"""Console sign-in: one-time sign-in links and the session store (both in PostgreSQL).

Sessions live in the database rather than in a process's memory: production runs several API
processes behind a balancer and restarts them on deploy, and an operator must stay signed in
across both. The cost is one indexed primary-key read per console request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from litestar.stores.base import Store

from app.audit.service import record_audit
from app.core.sql import fetch, fetchrow, fetchval
from app.users.service import active_user_by_email

LOGIN_LINK_TTL = timedelta(minutes=15)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LoginLink:
    token: str
    user_id: UUID
    tenant_id: UUID
    expires_at: datetime


async def create_login_link(
    *, email: str, tenant_slug: str | None = None, ttl: timedelta = LOGIN_LINK_TTL
) -> LoginLink:
    """A single-use sign-in token for an active user; only its hash is stored."""
    user = await active_user_by_email(email=email, tenant_slug=tenant_slug)
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + ttl
    await fetch(
        """
        INSERT INTO login_links (id, "user", token_hash, expires_at, created_at)
        VALUES ($1, $2, $3, $4, now())
        """,
        uuid4(),
        user["id"],
        _hash(token),
        expires_at,
    )
    return LoginLink(
        token=token, user_id=user["id"], tenant_id=user["tenant"], expires_at=expires_at
    )


async def redeem_login_link(token: str) -> UUID | None:
    """The link's user if the token is live and unused; marks it used in the same statement."""
    if not token or len(token) > 200:
        return None
    row = await fetchrow(
        """
        UPDATE login_links SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
        RETURNING "user"
        """,
        _hash(token),
    )
    return None if row is None else UUID(str(row["user"]))


async def audit_sign_in(*, tenant_id: UUID, user_id: UUID, method: str) -> None:
    """Sign-ins are in the audit trail (the actor is not set yet: the user is the resource)."""
    await record_audit(
        tenant_id=tenant_id,
        action="sign_in",
        resource_type="user",
        resource_id=user_id,
        after={"method": method},
    )


def _seconds(value: int | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class PostgresSessionStore(Store):
    """Litestar's Store contract over the console_sessions table."""

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        data = value.encode() if isinstance(value, str) else value
        seconds = _seconds(expires_in)
        await fetch(
            """
            INSERT INTO console_sessions (key, value, expires_at, created_at)
            VALUES ($1, $2, CASE WHEN $3::float8 IS NULL THEN NULL
                                 ELSE now() + make_interval(secs => $3::float8) END, now())
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
            """,
            key,
            data,
            seconds,
        )

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        seconds = _seconds(renew_for)
        if seconds is None:
            value = await fetchval(
                """
                SELECT value FROM console_sessions
                WHERE key = $1 AND (expires_at IS NULL OR expires_at > now())
                """,
                key,
            )
        else:
            value = await fetchval(
                """
                UPDATE console_sessions SET expires_at = now() + make_interval(secs => $2::float8)
                WHERE key = $1 AND (expires_at IS NULL OR expires_at > now()) RETURNING value
                """,
                key,
                seconds,
            )
        return None if value is None else bytes(value)

    async def delete(self, key: str) -> None:
        await fetch("DELETE FROM console_sessions WHERE key = $1", key)

    async def delete_all(self) -> None:
        await fetch("DELETE FROM console_sessions")

    async def delete_expired(self) -> None:
        await fetch("DELETE FROM console_sessions WHERE expires_at <= now()")

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        seconds = await fetchval(
            "SELECT extract(epoch FROM expires_at - now()) FROM console_sessions WHERE key = $1",
            key,
        )
        return None if seconds is None else int(seconds)
