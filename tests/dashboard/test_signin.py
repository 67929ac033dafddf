"""Console sign-in: API key, one-time link, session cookie flags, CSRF, sign-out."""

from __future__ import annotations

import httpx

from app.core.sql import fetch
from tests.conftest import TenantCtx
from tests.dashboard.conftest import Console, csrf_from


async def test_root_redirects_to_the_console(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/")
    assert response.status_code in (301, 302, 303, 307, 308)
    assert response.headers["location"] == "/dashboard"


async def test_pages_need_a_session(anon: httpx.AsyncClient) -> None:
    for path in ("/dashboard", "/dashboard/executions?status=FAILED"):
        response = await anon.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/dashboard/login?next=%2Fdashboard")
    # The API key header is no way into the console: only the session is.
    response = await anon.get("/dashboard", headers={"Authorization": "Bearer crm_nope"})
    assert response.status_code == 303


async def test_sign_in_with_a_key_sets_a_safe_session_cookie(
    tenant: TenantCtx, base_url: str
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        form = await http.get("/dashboard/login")
        csrf = csrf_from(form.text)
        wrong = await http.post("/dashboard/login", data={"_csrf_token": csrf, "api_key": "crm_x"})
        assert wrong.status_code == 401
        assert wrong.headers["content-type"].startswith("text/html")
        assert "unknown or revoked" in wrong.text
        ok = await http.post(
            "/dashboard/login",
            data={"_csrf_token": csrf, "api_key": tenant.api_key, "next": "https://evil.test/"},
        )
        assert ok.status_code == 303
        assert ok.headers["location"] == "/dashboard"  # never an open redirect
        cookie = next(
            v for k, v in ok.headers.multi_items() if k == "set-cookie" and "crmflow_session" in v
        ).lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert tenant.api_key not in cookie  # the cookie is an opaque session id
        overview = await http.get("/dashboard")
        assert overview.status_code == 200
        assert "Overview" in overview.text
        audit = await fetch(
            "SELECT changes FROM audit_logs WHERE tenant = $1 AND action = 'sign_in'",
            tenant.tenant_id,
        )
        assert len(audit) == 1


async def test_revoked_key_ends_the_session(tenant: TenantCtx, console: Console) -> None:
    assert (await console.http.get("/dashboard")).status_code == 200
    await fetch(
        "UPDATE api_keys SET revoked_at = now() WHERE key_hash = encode(sha256($1::bytea), 'hex')",
        tenant.api_key.encode(),
    )
    response = await console.http.get("/dashboard")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/dashboard/login")


async def test_form_without_csrf_token_is_refused(console: Console) -> None:
    response = await console.http.post("/dashboard/logout", data={})
    assert response.status_code == 403
    assert "CSRF" in response.text
    # Still signed in: the forged sign-out did nothing.
    assert (await console.http.get("/dashboard")).status_code == 200


async def test_sign_out(console: Console) -> None:
    response = await console.post("/dashboard/logout")
    assert response.status_code == 303
    after = await console.http.get("/dashboard")
    assert after.status_code == 303


async def test_one_time_link_works_once(tenant: TenantCtx, base_url: str) -> None:
    from app.core.uow import unit_of_work
    from app.dashboard.signin import create_login_link

    email = (await fetch("SELECT email FROM users WHERE id = $1", tenant.admin_id))[0]["email"]
    async with unit_of_work():
        link = await create_login_link(email=email)
    stored = await fetch('SELECT token_hash FROM login_links WHERE "user" = $1', tenant.admin_id)
    assert [r["token_hash"] for r in stored] != [link.token]  # stored hashed
    async with httpx.AsyncClient(base_url=base_url) as http:
        opened = await http.get(f"/dashboard/login/link/{link.token}")
        assert opened.status_code == 200
        csrf = csrf_from(opened.text)
        first = await http.post(
            "/dashboard/login/link", data={"_csrf_token": csrf, "token": link.token}
        )
        assert first.status_code == 303
        assert (await http.get("/dashboard")).status_code == 200
    async with httpx.AsyncClient(base_url=base_url) as http:
        csrf = csrf_from((await http.get("/dashboard/login")).text)
        again = await http.post(
            "/dashboard/login/link", data={"_csrf_token": csrf, "token": link.token}
        )
        assert again.status_code == 401
        assert again.headers["content-type"].startswith("text/html")
        assert "used or expired" in again.text


async def _cli(*args: str, database_url: str) -> tuple[int, str, str]:
    import asyncio
    import os
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_login_link_cli(tenant: TenantCtx, database_url: str) -> None:
    email = (await fetch("SELECT email FROM users WHERE id = $1", tenant.admin_id))[0]["email"]
    code, out, err = await _cli("login-link", "--email", email, database_url=database_url)
    assert code == 0, err
    assert "/dashboard/login/link/" in out
    code, out, err = await _cli(
        "login-link", "--email", "nobody@nowhere.test", database_url=database_url
    )
    assert code == 1
    assert "No active user" in err


async def test_member_signs_in(member_console: Console) -> None:
    page = await member_console.http.get("/dashboard")
    assert page.status_code == 200
    assert "member" in page.text


def test_cookies_are_secure_in_production() -> None:
    from app.core.config import Environment, Settings
    from app.dashboard.routes import csrf_config, session_config

    for env, secure in ((Environment.PRODUCTION, True), (Environment.DEVELOPMENT, False)):
        settings = Settings(environment=env, secret_key="k" * 40)
        session = session_config(settings)
        assert (session.secure, session.httponly, session.samesite) == (secure, True, "lax")
        csrf = csrf_config(settings)
        assert (csrf.cookie_secure, csrf.cookie_samesite) == (secure, "lax")


def test_production_sets_the_cookies_secure_on_the_wire() -> None:
    """The production session and CSRF cookies as a browser receives them (Set-Cookie)."""
    from litestar import Litestar, Request, get
    from litestar.stores.memory import MemoryStore
    from litestar.testing import TestClient

    from app.core.config import Environment, Settings
    from app.dashboard.routes import SESSION_STORE, dashboard_router

    @get("/dashboard/probe", sync_to_thread=False)
    def probe(request: Request[object, object, object]) -> str:
        request.set_session({"user_id": "someone"})
        return "ok"

    for env, secure in ((Environment.PRODUCTION, True), (Environment.DEVELOPMENT, False)):
        router = dashboard_router(Settings(environment=env, secret_key="k" * 40))
        app = Litestar(
            route_handlers=[probe],
            middleware=router.middleware[:2],  # the console's session + CSRF middleware
            stores={SESSION_STORE: MemoryStore()},
        )
        with TestClient(app, base_url="https://console.test") as http:
            response = http.get("/dashboard/probe")
        assert response.status_code == 200
        cookies = {
            v.split("=", 1)[0]: v.lower()
            for k, v in response.headers.multi_items()
            if k == "set-cookie"
        }
        assert set(cookies) == {"crmflow_session", "crmflow_csrf"}, cookies
        for name, header in cookies.items():
            assert ("; secure" in header) is secure, (env, name, header)
            assert "samesite=lax" in header
        assert "httponly" in cookies["crmflow_session"]
