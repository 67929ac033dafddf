"""The console in a real browser: Debian's chromium driven by Playwright (no browser download).

Screenshots of every page go to CONSOLE_SCREENSHOTS (default .data/screenshots); the README
links the copies committed under docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from app.core.sql import fetchval
from tests.conftest import TenantCtx
from tests.emails.conftest import make_email, unique_address
from tests.emails.smtp_sink import SmtpSink
from tests.engine.helpers import (
    BROKEN,
    NOTE,
    create_client,
    on_client_created,
    set_status,
    status_event,
    status_workflow,
    wait_executions,
    wait_for,
    wait_status,
)
from tests.helpers import add_member_key
from tests.webhooks.receiver import Receiver

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", ".data/screenshots"))
TIMEOUT_MS = 30_000
TAKEN: set[str] = set()  # the pages shot in this run (listed at the end of the run)


@pytest.fixture(scope="module")
def shots() -> Path:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make browser)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {SHOTS.resolve()}")
    return SHOTS


@pytest.fixture(scope="module")
async def browser(shots: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


async def new_page(browser: Any, base_url: str) -> Any:
    context = await browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


async def sign_in(browser: Any, base_url: str, api_key: str, *, shot: bool = False) -> Any:
    page = await new_page(browser, base_url)
    await page.goto("/dashboard/executions")
    assert "/dashboard/login" in page.url
    await page.fill("input[name=api_key]", api_key)
    if shot:
        await screenshot(page, "login")
    await page.click("button[type=submit]:has-text('Sign in')")
    await page.wait_for_url("**/dashboard/executions")
    return page


async def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)
    TAKEN.add(name)


async def test_sign_in_filter_and_open_steps(
    browser: Any, base_url: str, tenant: TenantCtx
) -> None:
    await on_client_created(tenant, actions=NOTE, name="Say hello")
    await on_client_created(tenant, actions=BROKEN, name="Breaks")
    await create_client(tenant, name="Ada Lovelace")
    await create_client(tenant, name="Grace Hopper")
    await wait_executions(tenant, count=4)

    page = await sign_in(browser, base_url, tenant.api_key, shot=True)
    # The session cookie is HttpOnly: no script on the page can read it.
    assert "crmflow_session" not in await page.evaluate("document.cookie")
    assert any(c["name"] == "crmflow_session" for c in await page.context.cookies())
    await page.goto("/dashboard")
    assert (await page.locator("h1").inner_text()).startswith("Overview")
    await screenshot(page, "overview")

    await page.goto("/dashboard/executions")
    assert await page.locator("tr[data-status]").count() == 4
    await page.select_option("select[name=status]", "FAILED")
    await page.click("button:has-text('Filter')")
    await page.wait_for_url("**status=FAILED**")
    assert await page.locator("tr[data-status]").count() == 2
    assert await page.locator("tr[data-status=COMPLETED]").count() == 0
    assert await page.locator("#exec-rows tbody .badge").all_inner_texts() == ["FAILED"] * 2
    assert await page.locator("select[name=status]").input_value() == "FAILED"  # kept in the form
    await screenshot(page, "executions")

    # A value the filter cannot take: the same page, the operator told which field and why.
    await page.goto("/dashboard/executions?status=DONE&from=yesterday")
    alert = page.locator(".flash.error[role=alert]")
    assert "query.status" in await alert.inner_text()
    assert "'yesterday' is not a date-time" in await alert.inner_text()
    await screenshot(page, "executions-bad-filter")
    await page.goto("/dashboard/executions?status=FAILED")

    await page.locator("tr[data-status=FAILED] a").first.click()
    await page.wait_for_url("**/dashboard/executions/*")
    summary = page.locator("details.attempt summary").first
    await summary.click()
    assert await page.locator("details.attempt[open] pre.err").first.is_visible()
    assert (
        "client.custom_fields.nope"
        in await page.locator("details.attempt[open]").first.inner_text()
    )
    await screenshot(page, "execution")

    await page.click("button:has-text('Sign out')")
    await page.wait_for_url("**/dashboard/login")
    await page.goto("/dashboard/executions")
    assert "/dashboard/login" in page.url  # signed out: the console asks again


async def test_watch_running_to_completed_without_reload(
    browser: Any, base_url: str, tenant: TenantCtx, session_receiver: Receiver
) -> None:
    # The second step calls a webhook that answers only when the test lets it: the execution is
    # RUNNING (its first step committed) for as long as the browser needs to see it.
    path = f"/hold/{os.urandom(4).hex()}"
    gate = session_receiver.app.hold(path)
    await on_client_created(
        tenant,
        actions=[
            *NOTE,
            {
                "type": "WEBHOOK",
                "config": {"url": f"{session_receiver.base}{path}", "timeout_s": 60},
                "retry": {"max_attempts": 1},
            },
        ],
        name="Calls the ERP",
    )
    page = await sign_in(browser, base_url, tenant.api_key)
    try:
        await create_client(tenant, name="Patient Client")
        await wait_for(lambda: _seen(session_receiver, path), what="the webhook call")
        [execution] = await wait_executions(tenant, count=1, terminal=False)
        await wait_status(tenant, execution["id"], "RUNNING")

        await page.goto("/dashboard/executions")
        await page.evaluate("window.__noReload = true")
        selector = f"tr:has(a[href='/dashboard/executions/{execution['id']}'])"
        assert await page.locator(selector).get_attribute("data-status") == "RUNNING"
        assert await page.locator(f"{selector} .badge").inner_text() == "RUNNING"
        assert await page.locator(selector).locator("td").nth(5).inner_text() == "Patient Client"
        assert await page.locator(".live").is_visible()
        await screenshot(page, "executions-live")
    finally:
        gate.set()
    await page.wait_for_selector(
        f"tr[data-status=COMPLETED]:has(a[href='/dashboard/executions/{execution['id']}'])"
    )
    assert await page.evaluate("window.__noReload === true")  # swapped in by htmx, no reload
    assert await page.locator(f"{selector} .badge").inner_text() == "COMPLETED"
    assert await page.locator(".live").count() == 0  # polling stopped with the last live row

    await page.locator(selector).locator("a").first.click()
    await page.wait_for_url(f"**/dashboard/executions/{execution['id']}")
    assert await page.locator("li.step").count() == 2
    assert await page.locator("details.attempt").count() == 2
    await page.locator("details.attempt summary").nth(1).click()
    assert path in await page.locator("details.attempt[open]").first.inner_text()


async def _seen(receiver: Receiver, path: str) -> bool:
    return bool(receiver.app.at(path))


async def test_retry_a_failed_execution(browser: Any, base_url: str, tenant: TenantCtx) -> None:
    await on_client_created(tenant, actions=BROKEN, name="Fails")
    await create_client(tenant)
    [execution] = await wait_executions(tenant, count=1)
    page = await sign_in(browser, base_url, tenant.api_key)
    await page.goto(f"/dashboard/executions/{execution['id']}")
    assert await page.locator("details.attempt").count() == 1
    await page.click("button:has-text('Retry from the failed step')")
    # The retried step fails again: its second attempt appears on the same page.
    await page.wait_for_function("document.querySelectorAll('details.attempt').length === 2")
    await wait_status(tenant, execution["id"], "FAILED")
    await page.wait_for_selector("#execution h1 .badge:has-text('FAILED')")
    # Each run's attempts are numbered from 1: the page lists the first run's and the retry's.
    attempts = await page.locator("details.attempt summary").all_inner_texts()
    assert len(attempts) == 2
    assert all("FAILED" in a and "client.custom_fields.nope" in a for a in attempts)
    assert await page.locator("button:has-text('Retry from the failed step')").is_visible()


async def test_approve_a_draft_and_it_is_delivered(
    browser: Any, base_url: str, tenant: TenantCtx, session_sink: SmtpSink
) -> None:
    to = unique_address()
    client = await create_client(tenant, name="Ada Lovelace")
    email = await make_email(
        tenant,
        to=to,
        subject="Your quote",
        body="Dear Ada,\nhere it is.",
        client_id=UUID(client["id"]),
    )
    page = await sign_in(browser, base_url, await add_member_key(tenant))
    await page.goto("/dashboard/emails")
    card = page.locator(f"article[data-email='{email['email_id']}']")
    assert "Dear Ada" in await card.inner_text()
    assert await card.locator(f"a[href='/dashboard/clients/{client['id']}']").inner_text() == (
        "Ada Lovelace"
    )
    await screenshot(page, "emails")
    await card.locator("button:has-text('Approve')").click()
    await page.wait_for_selector(".flash.ok")
    for _ in range(400):
        if session_sink.handler.to(to):
            break
        await page.wait_for_timeout(50)
    [received] = session_sink.handler.to(to)
    assert received.message["Subject"] == "Your quote"
    # The sink has the message before the worker commits SENT (after the server's 250).
    await wait_for(
        lambda: fetchval("SELECT status FROM emails WHERE id = $1", email["email_id"]),
        until=lambda status: status == "SENT",
        what="the email to be SENT",
    )
    # And the operator sees it sent.
    await page.goto("/dashboard/emails?status=SENT")
    sent = page.locator(f"article[data-email='{email['email_id']}']")
    assert await sent.locator(".badge").inner_text() == "SENT"
    assert "sent " in await sent.inner_text()


async def test_member_is_denied_an_admin_action(
    browser: Any, base_url: str, tenant: TenantCtx
) -> None:
    wf = await status_workflow(tenant, "VIP onboarding", to="ACTIVE", vip_only=True)
    admin = await sign_in(browser, base_url, tenant.api_key)
    await admin.goto("/dashboard/workflows")
    await screenshot(admin, "workflows")
    await admin.goto(f"/dashboard/workflows/{wf['id']}")
    await screenshot(admin, "workflow")

    member = await sign_in(browser, base_url, await add_member_key(tenant))
    await member.goto(f"/dashboard/workflows/{wf['id']}")
    assert "Only admins" in await member.locator(".actions").inner_text()
    # Forge the admin's form with the member's own valid CSRF token: the server still refuses.
    await member.evaluate(
        """id => {
            const f = document.createElement('form');
            f.method = 'post';
            f.action = `/dashboard/workflows/${id}/deactivate`;
            const t = document.querySelector('input[name=_csrf_token]').cloneNode();
            f.appendChild(t);
            document.body.appendChild(f);
            f.submit();
        }""",
        wf["id"],
    )
    await member.wait_for_selector("text=admin role")
    assert await fetchval("SELECT is_active FROM workflows WHERE id = $1", wf["id"]) is True


async def test_client_pages(browser: Any, base_url: str, tenant: TenantCtx) -> None:
    await on_client_created(tenant, actions=NOTE, name="Greeter")
    client = await create_client(tenant, name="Katherine Johnson", email="kj@nasa.test")
    await wait_executions(tenant, count=1)
    page = await sign_in(browser, base_url, tenant.api_key)
    await page.goto("/dashboard/clients")
    await page.fill("input[name=q]", "katherine")
    await page.click("button:has-text('Search')")
    await page.wait_for_url("**q=katherine**")
    await screenshot(page, "clients")
    await page.click("a:has-text('Katherine Johnson')")
    await page.wait_for_url(f"**/dashboard/clients/{client['id']}")
    assert await page.locator("tr[data-kind=execution]").count() == 1
    await screenshot(page, "client")


async def test_why_an_event_ran_no_workflow(browser: Any, base_url: str, tenant: TenantCtx) -> None:
    await status_workflow(tenant, "Welcome active clients", to="ACTIVE")
    await status_workflow(tenant, "VIP desk", vip_only=True)
    client = await create_client(tenant, name="Churned Client")
    await set_status(tenant, client["id"], "CHURNED")
    event = await status_event(client["id"])

    page = await sign_in(browser, base_url, tenant.api_key)
    await page.goto(f"/dashboard/clients/{client['id']}")
    row = page.locator("tr[data-kind=event]:has-text('CLIENT_STATUS_CHANGED')")
    assert await row.locator("tr[data-match=not]").count() == 2  # the reasons, on the client page
    await row.locator("a:has-text('CLIENT_STATUS_CHANGED')").click()
    await page.wait_for_url(f"**/dashboard/events/{event['id']}")
    assert "0 of 2" in await page.locator("p.summary").inner_text()
    trigger = page.locator("tr[data-reason=TRIGGER_CONFIG]")
    assert "Welcome active clients" in await trigger.inner_text()
    assert "ACTIVE" in await trigger.inner_text()
    assert "CHURNED" in await trigger.inner_text()
    condition = page.locator("tr[data-reason=CONDITION]")
    assert "client.tags" in await condition.inner_text()
    assert await page.locator("tr[data-match=ran]").count() == 0
    await screenshot(page, "event")


async def test_form_without_csrf_token_is_refused(
    browser: Any, base_url: str, tenant: TenantCtx
) -> None:
    wf = await on_client_created(tenant, actions=NOTE, name="Kept")
    page = await sign_in(browser, base_url, tenant.api_key)
    await page.goto(f"/dashboard/workflows/{wf['id']}")
    # The page's own Deactivate form, its CSRF field removed, as a forging site would send it.
    form = page.locator(".actions form")
    await form.evaluate("f => f.querySelector('input[name=_csrf_token]').remove()")
    await form.locator("button:has-text('Deactivate')").click()
    await page.wait_for_selector("h1:has-text('Form expired')")
    assert await fetchval("SELECT is_active FROM workflows WHERE id = $1", wf["id"]) is True
    # With the token (the page as served), the same button works.
    await page.goto(f"/dashboard/workflows/{wf['id']}")
    await page.locator(".actions button:has-text('Deactivate')").click()
    await page.wait_for_selector(".actions button:has-text('Activate')")
    assert await fetchval("SELECT is_active FROM workflows WHERE id = $1", wf["id"]) is False


async def test_bulk_cancel_a_filtered_set(browser: Any, base_url: str, tenant: TenantCtx) -> None:
    parked = [{"type": "DELAY", "config": {"duration": {"hours": 1}}}, *NOTE]
    await on_client_created(tenant, actions=parked, name="Nurture")
    kept = await on_client_created(tenant, actions=parked, name="Keep")
    for name in ("Lead One", "Lead Two", "Lead Three"):
        await create_client(tenant, name=name)
    executions = await wait_executions(tenant, count=6, terminal=False)
    for e in executions:
        await wait_status(tenant, e["id"], "WAITING")

    page = await sign_in(browser, base_url, await add_member_key(tenant))
    await page.goto("/dashboard/executions")
    await page.select_option("select[name=workflow]", label="Nurture")
    await page.select_option("select[name=status]", "WAITING")
    await page.click("button:has-text('Filter')")
    await page.wait_for_url("**status=WAITING**")
    assert await page.locator("tr[data-status=WAITING]").count() == 3
    await page.click("button:has-text('Cancel unfinished')")
    await page.wait_for_url("**/dashboard/executions/bulk?**")
    assert await page.locator("[data-count]").get_attribute("data-count") == "3"
    await screenshot(page, "bulk")
    await page.click("button:has-text('Cancel: 3 executions')")
    await page.wait_for_selector(".flash.ok:has-text('3 executions cancelled')")
    assert "status=WAITING" in page.url  # back on the same filtered list
    assert await page.locator("tr[data-status=WAITING]").count() == 0
    assert "No executions match." in await page.locator("#exec-rows").inner_text()
    # The other workflow's executions were outside the filter: untouched.
    assert (
        await fetchval(
            "SELECT count(*) FROM workflow_executions WHERE workflow = $1 AND status = 'WAITING'",
            kept["id"],
        )
        == 3
    )


async def test_api_docs_work_offline(browser: Any, base_url: str) -> None:
    page = await new_page(browser, base_url)
    elsewhere: list[str] = []

    async def only_the_app(route: Any) -> None:
        if route.request.url.startswith(base_url):
            await route.continue_()
        else:  # no internet here: anything from elsewhere fails, and is noted
            elsewhere.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_the_app)
    await page.goto("/schema/swagger")
    await page.wait_for_selector(".swagger-ui .opblock")  # Swagger UI rendered the API's routes
    assert elsewhere == []
    await screenshot(page, "api-docs", full_page=False)


def teardown_module() -> None:
    """Keep the committed copies in step when asked (CONSOLE_SCREENSHOTS_UPDATE_DOCS=1)."""
    if os.environ.get("CONSOLE_SCREENSHOTS_UPDATE_DOCS") == "1":
        docs = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        for shot in SHOTS.glob("*.png"):
            shutil.copy(shot, docs / shot.name)


async def test_the_console_works_without_javascript(
    browser: Any, base_url: str, tenant: TenantCtx
) -> None:
    """Pages are plain HTML and forms: with scripts off, an operator reads and acts the same."""
    await on_client_created(tenant, actions=BROKEN, name="Fails")
    await on_client_created(tenant, actions=NOTE, name="Greets")
    await create_client(tenant, name="No Script")
    failed = [e for e in await wait_executions(tenant, count=2) if e["status"] == "FAILED"]
    email = await make_email(tenant, subject="Plain HTML")
    context = await browser.new_context(
        base_url=base_url, java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)

    await page.goto("/dashboard/executions")
    await page.fill("input[name=api_key]", tenant.api_key)
    await page.click("button:has-text('Sign in')")
    await page.wait_for_url("**/dashboard/executions")
    assert await page.locator("tr[data-status]").count() == 2
    await page.select_option("select[name=status]", "FAILED")
    await page.click("button:has-text('Filter')")
    await page.wait_for_url("**status=FAILED**")
    assert await page.locator("#exec-rows tbody .badge").all_inner_texts() == ["FAILED"]

    await page.locator("tr[data-status=FAILED] a").first.click()
    await page.wait_for_url(f"**/dashboard/executions/{failed[0]['id']}")
    await page.locator("details.attempt summary").first.click()  # <details> needs no script
    assert await page.locator("details.attempt[open] pre.err").first.is_visible()
    await page.click("button:has-text('Retry from the failed step')")  # a plain POST, then 303
    await page.wait_for_url(f"**/dashboard/executions/{failed[0]['id']}")
    await wait_status(tenant, failed[0]["id"], "FAILED")
    await page.reload()  # no live refresh without scripts: a reload shows the new attempt
    assert await page.locator("details.attempt").count() == 2

    await page.goto("/dashboard/emails")
    card = page.locator(f"article[data-email='{email['email_id']}']")
    await card.locator("button:has-text('Approve')").click()
    await page.wait_for_selector(".flash.ok:has-text('1 approved')")
    await page.click("button:has-text('Sign out')")
    await page.wait_for_url("**/dashboard/login")
    await context.close()


async def test_sign_in_with_a_one_time_link(browser: Any, base_url: str, tenant: TenantCtx) -> None:
    from app.core.uow import unit_of_work
    from app.dashboard.signin import create_login_link

    email = await fetchval("SELECT email FROM users WHERE id = $1", tenant.admin_id)
    async with unit_of_work():
        link = await create_login_link(email=email)
    page = await new_page(browser, base_url)
    await page.goto(f"/dashboard/login/link/{link.token}")
    # Opening the link only shows a button (mail scanners that fetch links do not use it up).
    assert await page.locator("h1").inner_text() == "Sign in with this link"
    await screenshot(page, "login-link")
    await page.click("button:has-text('Sign in')")
    await page.wait_for_url("**/dashboard")
    assert (await page.locator("h1").inner_text()).startswith("Overview")
    assert await page.locator(".who").inner_text() == "admin"
    # Used once: the same link again is refused, on a page that says so.
    other = await new_page(browser, base_url)
    await other.goto(f"/dashboard/login/link/{link.token}")
    await other.click("button:has-text('Sign in')")
    await other.wait_for_url("**/dashboard/login/link")
    assert await other.locator("h1").inner_text() == "Sign in"  # a page, not its source
    assert "used or expired" in await other.locator("main").inner_text()
