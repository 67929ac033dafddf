"""Tenant bootstrap: a tenant, its first admin and that admin's first API key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

from app.core.auth import generate_api_key
from app.core.errors import ConflictError, UnprocessableError
from tables import ApiKeys, Tenants, Users
from tables.enums import Role


@dataclass(frozen=True, slots=True)
class BootstrappedTenant:
    tenant_id: UUID
    admin_user_id: UUID
    api_key_id: UUID
    api_key: str


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100]


async def create_tenant(
    *, name: str, admin_email: str, admin_name: str = "", slug: str | None = None
) -> BootstrappedTenant:
    """Create a tenant with an admin user and return the admin's key (shown once)."""
    slug = slug or slugify(name)
    if not slug:
        raise UnprocessableError("The tenant name must contain letters or digits.")
    if await Tenants.exists().where(Tenants.slug == slug):
        raise ConflictError(f"A tenant with slug '{slug}' already exists.")
    tenant = Tenants(name=name, slug=slug)
    await tenant.save()
    admin = Users(
        tenant=tenant.id, email=admin_email.strip().lower(), name=admin_name, role=Role.ADMIN.value
    )
    await admin.save()
    key = generate_api_key()
    api_key = ApiKeys(user=admin.id, name="bootstrap", prefix=key.prefix, key_hash=key.key_hash)
    await api_key.save()
    return BootstrappedTenant(
        tenant_id=tenant.id, admin_user_id=admin.id, api_key_id=api_key.id, api_key=key.plaintext
    )
