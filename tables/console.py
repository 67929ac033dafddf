"""The operator console's sign-in state: server-side sessions and one-time sign-in links."""

from __future__ import annotations

from piccolo.columns import UUID, Bytea, ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from tables.tenancy import Users


class ConsoleSessions(Table, tablename="console_sessions"):
    # Litestar's session id (random, from the cookie); the row holds what the session knows.
    key = Varchar(length=200, primary_key=True)
    value = Bytea()
    # NULL: never expires (Litestar's Store contract); the console always sets one.
    expires_at = Timestamptz(null=True, default=None, index=True)
    created_at = Timestamptz(default=TimestamptzNow())


class LoginLinks(Table, tablename="login_links"):
    id = UUID(primary_key=True)
    user = ForeignKey(references=Users, on_delete=OnDelete.cascade, null=False)
    # sha256 hex of the token; the link itself is printed once and never stored.
    token_hash = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
