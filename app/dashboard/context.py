"""Who is signed in to the console, how pages render, and how errors look in a browser."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import MediaType, Request, Response
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.plugins.htmx import ClientRedirect, HTMXDetails, HTMXRequest
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from app.core.auth import Principal, act_as, authenticate_session
from app.core.errors import AppError

LOGIN_PATH = "/dashboard/login"
SESSION_USER = "user_id"
SESSION_KEY = "api_key_id"

# htmx's request class (litestar.plugins.htmx): `request.htmx` is true for htmx's own requests.
DashRequest = HTMXRequest
# The signed-in operator, injected by name into every page that needs one.
Me = NamedDependency[Principal]


class NotSignedInError(Exception):
    """No (or no longer a valid) console session: go to the sign-in page."""


async def current_principal(request: DashRequest) -> Principal:
    """The signed-in operator, re-checked against the database on every request."""
    session = request.session if "session" in request.scope else {}
    user_id = session.get(SESSION_USER)
    if not user_id:
        raise NotSignedInError
    key_id = session.get(SESSION_KEY)
    principal = await authenticate_session(
        user_id=UUID(user_id), api_key_id=UUID(key_id) if key_id else None
    )
    if principal is None:
        request.clear_session()
        raise NotSignedInError
    # Console actions are audited exactly like their API twins: same actor, same services.
    act_as(principal, request)
    return principal


def page(
    name: str,
    request: Request[Any, Any, Any],
    principal: Principal | None,
    status_code: int = 200,
    **ctx: Any,
) -> Template:
    return Template(
        template_name=name,
        context={"me": principal, "path": request.url.path, "request": request, **ctx},
        status_code=status_code,
        # Always HTML: a handler that may answer a redirect or a page (`-> Any`) would otherwise
        # send the page as text/plain, and a browser shows its source.
        media_type=MediaType.HTML,
    )


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """Sent by htmx? (Exception handlers get the app's request class, not HTMXRequest.)"""
    return bool(HTMXDetails(request))


def see_other(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    """After a POST: a 303 for plain forms, an HX-Redirect for htmx."""
    if is_htmx(request):
        return ClientRedirect(redirect_to=url)
    return Redirect(path=url, status_code=HTTP_303_SEE_OTHER)


def _not_signed_in(request: Request[Any, Any, Any], _: NotSignedInError) -> Response[Any]:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET":
        target = "/dashboard"
    return see_other(request, f"{LOGIN_PATH}?next={_quote(target)}")


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _error_page(
    request: Request[Any, Any, Any], status: int, title: str, detail: str, errors: Any
) -> Template:
    return page(
        "error.html",
        request,
        None,
        status_code=status,
        title=title,
        detail=detail,
        errors=errors or [],
        htmx=is_htmx(request),
    )


def _app_error(request: Request[Any, Any, Any], exc: AppError) -> Template:
    return _error_page(request, exc.status_code, exc.title, exc.detail, exc.errors)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Template:
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        return _error_page(
            request,
            403,
            "Form expired",
            "The form was sent without a valid CSRF token. Reload the page and try again.",
            [],
        )
    status = exc.status_code
    if status >= 500:
        return _error_page(request, 500, "Server error", "Something went wrong on our side.", [])
    return _error_page(request, status, "Request refused", str(exc.detail), [])


EXCEPTION_HANDLERS: dict[Any, Any] = {
    NotSignedInError: _not_signed_in,
    AppError: _app_error,
    HTTPException: _http_error,
}
