"""A tenant's users (managed by its admins). Never commits."""

# ruff: noqa: S608 - SQL is composed from fixed column lists; values are always $n parameters.

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

import msgspec

from app.audit.service import AuditTrail
from app.core.auth_cache import auth_changed
from app.core.errors import ConflictError, NotFoundError, UnprocessableError
from app.core.listing import FIRST_PAGE, PageQuery, Where, keyset_rows
from app.core.sql import fetch, fetchrow, to_struct
from app.users.schemas import UserCreate, UserOut, UserPage, UserUpdate
from tables.enums import Role

RESOURCE = "user"
AUDIT = AuditTrail(RESOURCE)
COLUMNS = "id, email, name, role, is_active, created_at, updated_at"


async def active_user_by_email(*, email: str, tenant_slug: str | None) -> Mapping[str, Any]:
    """The one active user with this email (`id`, `tenant`, `slug`), for the CLI's sign-in and
    key commands: 404 if none, 422 when several tenants have one and no slug picks it."""
    rows = await fetch(
        """
        SELECT u.id, u.tenant, t.slug FROM users u JOIN tenants t ON t.id = u.tenant
        WHERE lower(u.email) = lower($1) AND u.is_active AND ($2::text IS NULL OR t.slug = $2)
        """,
        email,
        tenant_slug,
    )
    if not rows:
        raise NotFoundError(f"No active user with the email {email!r}.")
    if len(rows) > 1:
        slugs = ", ".join(sorted(r["slug"] for r in rows))
        raise UnprocessableError(
            f"{email!r} is a user of several tenants ({slugs}): pass --tenant."
        )
    user: Mapping[str, Any] = rows[0]
    return user


def _out(row: Mapping[str, Any]) -> UserOut:
    return to_struct(UserOut, row)


def _audit_view(user: UserOut) -> dict[str, Any]:
    return {
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "is_active": user.is_active,
    }


async def create_user(*, tenant_id: UUID, data: UserCreate) -> UserOut:
    """Add a user; 409 when the tenant already has that email."""
    row = await fetchrow(
        f"""
        INSERT INTO users (id, tenant, email, name, role, is_active, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, true, now(), now())
        ON CONFLICT ON CONSTRAINT uq_users_tenant_email DO NOTHING
        RETURNING {COLUMNS}
        """,
        uuid4(),
        tenant_id,
        data.email.strip().lower(),
        data.name,
        data.role.value,
    )
    if row is None:
        raise ConflictError("A user with this email already exists.")
    user = _out(row)
    await AUDIT.record(
        tenant_id=tenant_id, action="create", resource_id=user.id, after=_audit_view(user)
    )
    return user


async def get_user(*, tenant_id: UUID, user_id: UUID) -> UserOut:
    row = await fetchrow(
        f"SELECT {COLUMNS} FROM users WHERE id = $1 AND tenant = $2", user_id, tenant_id
    )
    if row is None:
        raise NotFoundError("No such user.")
    return _out(row)


async def update_user(
    *, tenant_id: UUID, user_id: UUID, actor_id: UUID, changes: UserUpdate
) -> UserOut:
    """Rename, change role or (de)activate; an admin cannot demote or deactivate themselves."""
    values = {
        name: getattr(changes, name)
        for name in ("name", "role", "is_active")
        if getattr(changes, name) is not msgspec.UNSET
    }
    if "role" in values:
        values["role"] = values["role"].value
    before = await get_user(tenant_id=tenant_id, user_id=user_id)
    if not values:
        return before
    if user_id == actor_id and (
        values.get("role", Role.ADMIN.value) != Role.ADMIN.value
        or values.get("is_active", True) is False
    ):
        raise ConflictError("You cannot demote or deactivate yourself.")
    where = Where()
    id_p, tenant_p = where.param(user_id), where.param(tenant_id)
    sets = ", ".join(f"{col} = {where.param(v)}" for col, v in values.items())
    row = await fetchrow(
        f"UPDATE users SET {sets}, updated_at = now() WHERE id = {id_p} AND tenant = {tenant_p} "
        f"RETURNING {COLUMNS}",
        *where.args,
    )
    if row is None:
        raise NotFoundError("No such user.")
    if "role" in values or "is_active" in values:
        await auth_changed()  # every API process forgets cached principals at the commit
    after = _out(row)
    await AUDIT.record(
        tenant_id=tenant_id,
        action="update",
        resource_id=user_id,
        before=_audit_view(before),
        after=_audit_view(after),
    )
    return after


async def delete_user(*, tenant_id: UUID, user_id: UUID, actor_id: UUID) -> None:
    """Delete a user and their keys; what they owned stays, unowned."""
    if user_id == actor_id:
        raise ConflictError("You cannot delete yourself.")
    row = await fetchrow(
        f"DELETE FROM users WHERE id = $1 AND tenant = $2 RETURNING {COLUMNS}", user_id, tenant_id
    )
    await auth_changed()
    if row is None:
        raise NotFoundError("No such user.")
    await AUDIT.record(
        tenant_id=tenant_id, action="delete", resource_id=user_id, before=_audit_view(_out(row))
    )


async def list_users(
    *,
    tenant_id: UUID,
    role: Role | None,
    is_active: bool | None,
    page: PageQuery = FIRST_PAGE,
) -> UserPage:
    where = Where().equal("u.tenant", tenant_id)
    where.equal("u.role", role)
    where.equal("u.is_active", is_active)
    rows, next_cursor = await keyset_rows(
        select=", ".join("u." + c for c in COLUMNS.split(", ")),
        from_="users u",
        where=where,
        alias="u",
        page=page,
    )
    return UserPage(items=[_out(r) for r in rows], next_cursor=next_cursor)
