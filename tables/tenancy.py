"""Tenants, their users and the API keys users authenticate with."""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, ForeignKey, Integer, OnDelete, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from tables.enums import Role, sql_in


class Tenants(Table, tablename="tenants"):
    id = UUID(primary_key=True)
    name = Varchar(length=200)
    slug = Varchar(length=100, unique=True)
    # Retention overrides (NULL: the global RETENTION_DAYS / RETENTION_MAX_ROWS /
    # AUDIT_RETENTION_DAYS); see app/retention.
    retention_days = Integer(null=True, default=None)
    retention_max_rows = Integer(null=True, default=None)
    audit_retention_days = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow(), auto_update=TimestamptzNow().python)


class Users(Table, tablename="users"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(references=Tenants, on_delete=OnDelete.cascade, null=False)
    email = Varchar(length=320)
    name = Varchar(length=200, default="")
    role = Varchar(length=20, default=Role.MEMBER.value, choices=Role)
    is_active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow(), auto_update=TimestamptzNow().python)

    uq_users_tenant_email = Unique(["tenant", "email"])
    ck_users_role = Check(sql_in("role", Role))


class ApiKeys(Table, tablename="api_keys"):
    id = UUID(primary_key=True)
    user = ForeignKey(references=Users, on_delete=OnDelete.cascade, null=False)
    name = Varchar(length=200, default="")
    # The first characters of the key, shown in listings so a person can tell keys apart.
    prefix = Varchar(length=32)
    # sha256 hex of the whole key; the key itself is shown once and never stored.
    key_hash = Varchar(length=64, unique=True)
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
