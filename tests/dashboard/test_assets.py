"""The console's and the API docs' assets come from the app: nothing loads from a CDN."""

from __future__ import annotations

import re

import httpx


async def test_htmx_and_css_are_served(anon: httpx.AsyncClient) -> None:
    htmx = await anon.get("/dashboard/static/vendor/htmx/htmx.min.js")
    assert htmx.status_code == 200
    assert 'version:"2.' in htmx.text
    css = await anon.get("/dashboard/static/console.css")
    assert css.status_code == 200


async def test_login_page_references_only_local_assets(anon: httpx.AsyncClient) -> None:
    page = await anon.get("/dashboard/login")
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
    assert assets
    assert all(a.startswith("/dashboard/static/") for a in assets)


async def test_swagger_ui_loads_from_the_app(anon: httpx.AsyncClient) -> None:
    page = await anon.get("/schema/swagger")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert urls
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))]
    for url in urls:
        if url.startswith("/dashboard/static/"):
            assert (await anon.get(url)).status_code == 200, url


def test_no_template_loads_anything_from_elsewhere() -> None:
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "app" / "dashboard" / "templates"
    pages = sorted(templates.glob("*.html"))
    assert pages
    external = re.compile(r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
    offenders = [p.name for p in pages if external.search(p.read_text())]
    assert offenders == []
