"""Console fixtures: an HTTP client signed in to /dashboard through the real sign-in form."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import TenantCtx
from tests.helpers import add_member_key

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


@dataclass
class Console:
    http: httpx.AsyncClient
    csrf: str

    async def post(self, url: str, **form: str | list[str]) -> httpx.Response:
        data: dict[str, str | list[str]] = {"_csrf_token": self.csrf, **form}
        return await self.http.post(url, data=data)


async def sign_in(base_url: str, api_key: str) -> Console:
    http = httpx.AsyncClient(base_url=base_url, timeout=30)
    form = await http.get("/dashboard/login")
    assert form.status_code == 200
    csrf = csrf_from(form.text)
    signed = await http.post(
        "/dashboard/login", data={"_csrf_token": csrf, "api_key": api_key, "next": "/dashboard"}
    )
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/dashboard"
    return Console(http=http, csrf=csrf)


@pytest.fixture
async def console(tenant: TenantCtx, base_url: str) -> AsyncIterator[Console]:
    """The tenant's admin, signed in to the console."""
    c = await sign_in(base_url, tenant.api_key)
    yield c
    await c.http.aclose()


@pytest.fixture
async def member_console(tenant: TenantCtx, base_url: str) -> AsyncIterator[Console]:
    """A member of the tenant, signed in to the console."""
    c = await sign_in(base_url, await add_member_key(tenant))
    yield c
    await c.http.aclose()


@pytest.fixture
async def other_console(base_url: str) -> AsyncIterator[Console]:
    """The admin of another tenant, signed in."""
    import os

    from app.core.uow import unit_of_work
    from app.tenants.service import create_tenant

    suffix = os.urandom(4).hex()
    async with unit_of_work():
        boot = await create_tenant(name=f"Other {suffix}", admin_email=f"admin@o{suffix}.test")
    c = await sign_in(base_url, boot.api_key)
    yield c
    await c.http.aclose()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the browser tests left their screenshots of every console page."""
    import sys

    browser_tests = sys.modules.get("tests.dashboard.test_browser")
    if browser_tests is not None and browser_tests.TAKEN:
        names = ", ".join(sorted(browser_tests.TAKEN))
        terminalreporter.write_line(
            f"console screenshots in {browser_tests.SHOTS.resolve()}: {names}"
        )


# The suite-wide SMTP sink the running app delivers to (its port is set when this is imported).
from tests.emails.conftest import session_sink  # noqa: E402, F401

# The browser test that watches RUNNING → COMPLETED holds a webhook call open while it looks; the
# engine's ceiling on a call (10 s by default) must outlast a slow machine's page loads.
os.environ.setdefault("WEBHOOK_TIMEOUT_S", "60")

# The suite-wide webhook receiver the engine may call (its address is allowlisted on import).
from tests.webhooks.conftest import session_receiver  # noqa: E402, F401
