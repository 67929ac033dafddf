"""API keys: random, shown once, stored as a sha256 hash, revocable. Never commits."""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

from app.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyPage
from app.audit.service import AuditTrail
from app.core.auth import generate_api_key
from app.core.auth_cache import auth_changed
from app.core.errors import FieldError, NotFoundError, UnprocessableError
from app.core.listing import FIRST_PAGE, PageQuery, Where, keyset_rows
from app.core.sql import fetchrow, to_struct
from app.users.service import active_user_by_email

RESOURCE = "api_key"
AUDIT = AuditTrail(RESOURCE)
_COLUMNS = "k.id, k.name, k.prefix, k.user, k.last_used_at, k.revoked_at, k.created_at"
_FROM = 'api_keys k JOIN users u ON u.id = k."user"'


def _out(row: Mapping[str, Any]) -> ApiKeyOut:
    return to_struct(ApiKeyOut, row, user_id="user")


async def create_api_key(*, tenant_id: UUID, actor_id: UUID, data: ApiKeyCreate) -> ApiKeyCreated:
    """Issue a key for a user of the tenant; the plaintext is returned only here."""
    user_id = data.user_id or actor_id
    key = generate_api_key()
    row = await fetchrow(
        """
        INSERT INTO api_keys (id, "user", name, prefix, key_hash, created_at)
        SELECT $1, u.id, $3, $4, $5, now() FROM users u WHERE u.id = $2 AND u.tenant = $6
        RETURNING id, name, prefix, "user", created_at
        """,
        uuid4(),
        user_id,
        data.name,
        key.prefix,
        key.key_hash,
        tenant_id,
    )
    if row is None:
        raise UnprocessableError(
            "The user does not exist.", errors=[FieldError("$.user_id", "unknown user")]
        )
    await AUDIT.record(
        tenant_id=tenant_id,
        action="create",
        resource_id=row["id"],
        after={"name": data.name, "prefix": key.prefix, "user_id": str(user_id)},
    )
    return ApiKeyCreated(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        user_id=row["user"],
        created_at=row["created_at"],
        key=key.plaintext,
    )


async def get_api_key(*, tenant_id: UUID, key_id: UUID) -> ApiKeyOut:
    row = await fetchrow(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE k.id = $1 AND u.tenant = $2", key_id, tenant_id
    )
    if row is None:
        raise NotFoundError("No such API key.")
    return _out(row)


async def revoke_api_key(*, tenant_id: UUID, key_id: UUID) -> ApiKeyOut:
    """Revoke a key (idempotent): every later request with it answers 401."""
    row = await fetchrow(
        f"""
        UPDATE api_keys AS k SET revoked_at = coalesce(k.revoked_at, now())
        FROM users u
        WHERE k.id = $1 AND u.id = k."user" AND u.tenant = $2
        RETURNING {_COLUMNS}
        """,
        key_id,
        tenant_id,
    )
    if row is None:
        raise NotFoundError("No such API key.")
    await auth_changed()  # every API process forgets cached principals at the commit
    await AUDIT.record(
        tenant_id=tenant_id,
        action="revoke",
        resource_id=key_id,
        before={"revoked_at": None},
        after={"revoked_at": row["revoked_at"].isoformat()},
    )
    return _out(row)


async def list_api_keys(
    *,
    tenant_id: UUID,
    user_id: UUID | None,
    revoked: bool | None,
    page: PageQuery = FIRST_PAGE,
) -> ApiKeyPage:
    where = Where().equal("u.tenant", tenant_id)
    where.equal('k."user"', user_id)
    if revoked is not None:
        where.add("k.revoked_at IS NOT NULL" if revoked else "k.revoked_at IS NULL")
    rows, next_cursor = await keyset_rows(
        select=_COLUMNS,
        from_=_FROM,
        where=where,
        alias="k",
        page=page,
    )
    return ApiKeyPage(items=[_out(r) for r in rows], next_cursor=next_cursor)


async def create_key_for_email(
    *, email: str, tenant_slug: str | None = None, name: str = ""
) -> tuple[str, ApiKeyCreated]:
    """The lost-key path (`crmflow create-key`): a new key for an existing, active user.

    Returns the tenant's slug and the key (its plaintext shown only now).
    """
    user = await active_user_by_email(email=email, tenant_slug=tenant_slug)
    created = await create_api_key(
        tenant_id=user["tenant"],
        actor_id=user["id"],
        data=ApiKeyCreate(name=name or "created by crmflow create-key", user_id=user["id"]),
    )
    return user["slug"], created
