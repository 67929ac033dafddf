"""Every console page and fragment, walked from the app's own routes: none can be forgotten.

For each GET page: it renders for its tenant (full page, and the htmx fragment where it has one),
another tenant's ids are 404, and bad filter values are a 400 page with the message, never a 500.
For each POST form: refused without the CSRF token, 404 for another tenant's ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import TenantCtx
from tests.dashboard.conftest import Console
from tests.emails.conftest import make_email
from tests.engine.helpers import (
    NOTE,
    client_events,
    create_client,
    on_client_created,
    wait_dispatched,
    wait_executions,
)

# path template → the id it needs (None: a list page). Sign-in pages are checked in test_signin.
PAGES: dict[str, str | None] = {
    "/dashboard": None,
    "/dashboard/executions": None,
    "/dashboard/executions/{execution_id:uuid}": "execution",
    "/dashboard/executions/bulk": None,
    "/dashboard/emails": None,
    "/dashboard/events/{event_id:uuid}": "event",
    "/dashboard/workflows": None,
    "/dashboard/workflows/{workflow_id:uuid}": "workflow",
    "/dashboard/clients": None,
    "/dashboard/clients/{client_id:uuid}": "client",
}
# Query parameters a page needs to be itself.
PARAMS: dict[str, dict[str, str]] = {"/dashboard/executions/bulk": {"action": "cancel"}}
# Pages htmx refreshes: their fragment has no <html>, and 286 (stop polling) once nothing is live.
FRAGMENTS = {
    "/dashboard/executions",
    "/dashboard/executions/{execution_id:uuid}",
    "/dashboard/events/{event_id:uuid}",
}
PUBLIC = {
    "/dashboard/login",
    "/dashboard/login/link/{token:str}",
    "/dashboard/static/{file_path:path}",
}
# POST forms → the id they act on (None: ids come in the form).
FORMS: dict[str, str | None] = {
    "/dashboard/login": None,
    "/dashboard/login/link": None,
    "/dashboard/logout": None,
    "/dashboard/executions/{execution_id:uuid}/cancel": "execution",
    "/dashboard/executions/{execution_id:uuid}/retry": "execution",
    "/dashboard/executions/{execution_id:uuid}/retry-from-start": "execution",
    "/dashboard/executions/bulk": None,
    "/dashboard/emails/decide": None,
    "/dashboard/emails/{email_id:uuid}/resend": "email",
    "/dashboard/workflows/{workflow_id:uuid}/activate": "workflow",
    "/dashboard/workflows/{workflow_id:uuid}/deactivate": "workflow",
}
# Bad filter values per list page: (params, the field named in the message).
BAD_FILTERS: dict[str, list[tuple[dict[str, str], str]]] = {
    "/dashboard/executions": [
        ({"status": "DONE"}, "query.status"),
        ({"workflow": "nope"}, "query.workflow"),
        ({"client": "12"}, "query.client"),
        ({"from": "yesterday"}, "query.from"),
        ({"to": "2026-13-45"}, "query.to"),
        ({"from": "2026-01-02T00:00", "to": "2026-01-01T00:00"}, "query.to"),
        ({"event_type": "x" * 101}, "query.event_type"),
        ({"q": "x" * 500}, "query.q"),
        ({"cursor": "garbage!"}, "query.cursor"),
    ],
    "/dashboard/executions/bulk": [
        ({"action": "explode"}, "action"),
        ({"action": "cancel", "status": "DONE"}, "query.status"),
        ({"action": "retry", "from": "2026-01-02T00:00", "to": "2026-01-01T00:00"}, "query.to"),
    ],
    "/dashboard/emails": [({"status": "LOST"}, "query.status"), ({"cursor": "%%%"}, "cursor")],
    "/dashboard/clients": [({"q": "x" * 300}, "query.q"), ({"cursor": "nope"}, "cursor")],
    "/dashboard/workflows": [({"cursor": "nope"}, "cursor")],
}


def _routes() -> dict[str, set[str]]:
    from app.server import create_app

    return {
        r.path: set(r.methods) - {"OPTIONS", "HEAD"}
        for r in create_app().routes
        if r.path.startswith("/dashboard")
    }


def test_every_page_and_form_is_in_these_tables() -> None:
    routes = _routes()
    gets = {p for p, m in routes.items() if "GET" in m} - PUBLIC
    posts = {p for p, m in routes.items() if "POST" in m}
    assert gets == set(PAGES), "a console page without request-level tests"
    assert posts == set(FORMS), "a console form without request-level tests"
    assert set(PAGES) >= FRAGMENTS
    assert set(BAD_FILTERS) <= {p for p, needs in PAGES.items() if needs is None}


@dataclass
class World:
    ids: dict[str, str]


@pytest.fixture
async def world(tenant: TenantCtx) -> World:
    wf = await on_client_created(tenant, actions=NOTE, name="Greets")
    client = await create_client(tenant, name="Every Page")
    [execution] = await wait_executions(tenant, count=1)
    [event] = await client_events(client["id"])
    await wait_dispatched([event["id"]])
    email = await make_email(tenant, subject="A draft")
    return World(
        ids={
            "execution": execution["id"],
            "event": str(event["id"]),
            "workflow": wf["id"],
            "client": client["id"],
            "email": str(email["email_id"]),
        }
    )


def _html(response: httpx.Response) -> bool:
    """Served as a page: a browser renders it (text/plain would show its source)."""
    return response.headers["content-type"].startswith("text/html")


def _url(template: str, ids: dict[str, str], needs: str | None) -> str:
    if needs is None:
        return template
    prefix, _, rest = template.partition("{")
    return prefix + ids[needs] + rest.partition("}")[2]


async def test_every_page_renders_for_its_tenant(world: World, member_console: Console) -> None:
    for template, needs in PAGES.items():
        url = _url(template, world.ids, needs)
        page = await member_console.http.get(url, params=PARAMS.get(template))
        assert page.status_code == 200, (url, page.status_code)
        assert _html(page), url
        assert "<html" in page.text
        assert "<h1" in page.text
        if template in FRAGMENTS:
            fragment = await member_console.http.get(
                url, params=PARAMS.get(template), headers={"HX-Request": "true"}
            )
            # Everything here has finished: the fragment tells htmx to stop polling.
            assert fragment.status_code == 286, (url, fragment.status_code)
            assert _html(fragment), url
            assert "<html" not in fragment.text
            assert "hx-trigger" not in fragment.text


async def test_another_tenants_ids_are_404(world: World, other_console: Console) -> None:
    for template, needs in PAGES.items():
        url = _url(template, world.ids, needs)
        response = await other_console.http.get(url, params=PARAMS.get(template))
        if needs is None:
            assert response.status_code == 200, url
            assert not [i for i in world.ids.values() if i in response.text], url
        else:
            assert response.status_code == 404, (url, response.status_code)
            assert _html(response), url
            assert "<html" in response.text  # a page, with the way back
    for template, needs in FORMS.items():
        if needs is not None:
            url = _url(template, world.ids, needs)
            response = await other_console.post(url)
            assert response.status_code == 404, (url, response.status_code)


async def test_every_form_needs_the_csrf_token(world: World, console: Console) -> None:
    for template, needs in FORMS.items():
        url = _url(template, world.ids, needs) if needs else template
        response = await console.http.post(url, data={"ids": world.ids["execution"]})
        assert response.status_code == 403, (url, response.status_code)
        assert _html(response), url
        assert "CSRF" in response.text


async def test_bad_filter_values_are_a_clear_400(console: Console) -> None:
    for page, cases in BAD_FILTERS.items():
        for params, field in cases:
            response = await console.http.get(page, params=params)
            assert response.status_code in (400, 422), (page, params, response.status_code)
            assert field in response.text, (page, params)
            assert _html(response), (page, params)
            assert "<form" in response.text or "<h1" in response.text


async def test_another_tenants_ids_as_filters_find_nothing(
    world: World, other_console: Console
) -> None:
    """Another tenant's workflow or client id in a filter matches nothing and names nothing."""
    for field in ("workflow", "client"):
        params = {field: world.ids[field]}
        listing = await other_console.http.get("/dashboard/executions", params=params)
        assert listing.status_code == 200, (field, listing.status_code)
        assert "No executions match." in listing.text
        assert "Every Page" not in listing.text
        assert "Greets" not in listing.text
        bulk = await other_console.http.get(
            "/dashboard/executions/bulk", params={"action": "cancel", **params}
        )
        assert bulk.status_code == 200
        assert 'data-count="0"' in bulk.text
